"""Tests for stproxy_monitor.certs.truststore: APNs roots by subject and key, trust stores found
in profiles and configured, read with WebSphere's default password; Java's own trust stores."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding
from support import load_cert_generator

from stproxy_monitor.certs.files import PasswordSource
from stproxy_monitor.certs.inspection import inspect_certificates
from stproxy_monitor.certs.truststore import (
    APNS_ROOTS,
    TrustStores,
    TrustStoreSource,
    apns_roots,
    truststore_sources,
)

KEYTOOL = "keytool"  # Debian's JRE, installed by .ci/run
JAVA = "java"


def _roots_pem(tmp_path: Path) -> dict[str, Path]:
    """The real roots from the system's CA bundle (as the fixtures take them), one PEM each."""
    found = load_cert_generator().system_roots()
    paths = {}
    for index, (name, cert) in enumerate(sorted(found.items())):
        path = tmp_path / f"root{index}.pem"
        path.write_bytes(cert.public_bytes(Encoding.PEM))
        paths[name] = path
    return paths


def test_the_pins_match_the_system_roots(tmp_path: Path) -> None:
    """APNS_ROOTS' subjects and key pins are those of the roots in the system CA bundle."""
    infos = [inspect_certificates(p.read_bytes(), None)[0] for p in _roots_pem(tmp_path).values()]
    assert set(apns_roots(infos)) == {root.name for root in APNS_ROOTS}


def test_a_root_counts_only_with_subject_and_key(tmp_path: Path) -> None:
    """The right name with another key, or the right key under another name, does not count."""
    info = inspect_certificates(next(iter(_roots_pem(tmp_path).values())).read_bytes(), None)[0]
    assert apns_roots([info])
    assert apns_roots([dataclasses.replace(info, spki_sha256="00" * 32)]) == ()
    assert apns_roots([dataclasses.replace(info, subject="CN=Someone Else")]) == ()
    assert apns_roots([]) == ()


def test_profile_stores_are_found_with_their_node(cert_manifest: dict[str, Any]) -> None:
    """A profile's cell and node trust stores, node "" for the cell's, read with "WebAS"."""
    dmgr = cert_manifest["profiles"]["Dmgr01"]
    readings = TrustStores(truststore_sources([], [dmgr])).read()
    stores = cert_manifest["truststores"]
    expected = {
        stores[case]["path"]: (stores[case]["node"], bool(stores[case]["trusts_apns"]))
        for case in ("trust_cell", "trust_node1", "trust_node2")
    }
    assert {r.path: (r.node, r.trusts_apns) for r in readings} == expected
    assert all(r.read_ok and r.certificates >= 3 for r in readings)


def test_configured_password_wins_and_a_wrong_one_is_unreadable(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """The configured entry's password opens it; "WebAS" does not: read_ok False, unknown."""
    custom = cert_manifest["truststores"]["trust_custom_password"]
    password = PasswordSource(file=Path(custom["password_file"]))
    good = TrustStores([TrustStoreSource(path=custom["path"], password=password)]).read()
    assert [(r.read_ok, r.trusts_apns) for r in good] == [(True, True)]
    (bad,) = TrustStores([TrustStoreSource(path=custom["path"])]).read()
    assert (bad.read_ok, bad.reason, bad.trusts_apns) == (False, "bad_password", None)
    (missing,) = TrustStores([TrustStoreSource(path=str(tmp_path / "nope" / "trust.p12"))]).read()
    assert (missing.read_ok, missing.reason) == (False, "missing")


def test_readings_are_the_same_tuple_while_nothing_changes(cert_manifest: dict[str, Any]) -> None:
    """A second read of unchanged files gives the very same tuple (scrapes reuse it)."""
    stores = TrustStores(truststore_sources([], [cert_manifest["profiles"]["Dmgr01"]]))
    assert stores.read() is stores.read()


JAVA_STORE = """
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.security.KeyStore;
import java.security.cert.CertificateFactory;

public class MakeTrustStore {
    public static void main(String[] args) throws Exception {
        KeyStore store = KeyStore.getInstance("PKCS12");
        store.load(null, null);
        CertificateFactory factory = CertificateFactory.getInstance("X.509");
        for (int i = 1; i < args.length; i++) {
            try (FileInputStream in = new FileInputStream(args[i])) {
                store.setCertificateEntry("signer" + i, factory.generateCertificate(in));
            }
        }
        try (FileOutputStream out = new FileOutputStream(args[0])) {
            store.store(out, "WebAS".toCharArray());
        }
    }
}
"""


def test_a_java_trust_store_with_the_default_password(tmp_path: Path) -> None:
    """A trust.p12 written by Java's KeyStore API (trusted-certificate bags, no key, password
    WebAS, which keytool itself refuses as too short): read, and the roots found in it."""
    roots = _roots_pem(tmp_path)
    source = tmp_path / "MakeTrustStore.java"
    source.write_text(JAVA_STORE)
    with_roots = tmp_path / "with" / "trust.p12"
    without = tmp_path / "without" / "trust.p12"
    for store, pems in ((with_roots, list(roots.values())), (without, [])):
        store.parent.mkdir()
        subprocess.run([JAVA, str(source), str(store), *map(str, pems)], check=True, timeout=120)
    readings = TrustStores(
        [TrustStoreSource(path=str(with_roots)), TrustStoreSource(path=str(without))]
    ).read()
    found = {r.path: (r.read_ok, r.certificates, r.roots) for r in readings}
    assert found[str(with_roots)] == (True, 2, tuple(root.name for root in APNS_ROOTS))
    assert found[str(without)] == (True, 0, ())


def test_a_keytool_trust_store_with_its_own_password(tmp_path: Path) -> None:
    """keytool -importcert (PBES2-encrypted trusted bags, JDK 17): read with the password set."""
    roots = _roots_pem(tmp_path)
    store = tmp_path / "trust.p12"
    password = tmp_path / "trust.pass"
    password.write_text("changeit\n")
    for alias, pem in enumerate(roots.values()):
        subprocess.run(
            [KEYTOOL, "-importcert", "-noprompt", "-alias", f"root{alias}", "-file", str(pem),
             "-keystore", str(store), "-storetype", "PKCS12", "-storepass", "changeit"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
    (reading,) = TrustStores(
        [TrustStoreSource(path=str(store), password=PasswordSource(file=password))]
    ).read()
    assert (reading.read_ok, reading.certificates, reading.trusts_apns) == (True, 2, True)
