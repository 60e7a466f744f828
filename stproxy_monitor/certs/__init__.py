"""The certificate wing: PKCS#12 inspection, certificate files and cell rollout checks."""
