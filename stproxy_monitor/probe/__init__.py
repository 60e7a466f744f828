"""The probe: ask Apple's HTTP/2 provider API whether the certificate is accepted today."""
