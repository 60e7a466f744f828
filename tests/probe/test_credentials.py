"""The probe's client certificate: read from the PKCS#12 like `certificates`, handed to ssl
through a 0700 directory that is gone at once, the key encrypted with a one-time password."""

from __future__ import annotations

import os
import ssl
import stat
import tempfile
from pathlib import Path

import pytest
from apns_standin import P12_PASSWORD, TOPIC, ClientPKI
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from stproxy_monitor.certs.files import PasswordSource
from stproxy_monitor.errors import CertificateError
from stproxy_monitor.probe.credentials import (
    client_context,
    describe,
    load_client_certificate,
    load_identity,
)


@pytest.fixture
def pki(tmp_path: Path) -> ClientPKI:
    """A client CA under tmp_path."""
    return ClientPKI(tmp_path)


def test_identity_from_a_password_file(pki: ClientPKI, tmp_path: Path) -> None:
    """Key, certificate and UID come from the PKCS#12, its password from a file."""
    password = tmp_path / "pass"
    password.write_text(P12_PASSWORD + "\n")
    identity = load_identity(str(pki.issue("leaf")), PasswordSource(file=password), environ={})
    mine = describe(identity)
    assert mine.uid == TOPIC
    assert "UID=com.ibm.lotus.sametime" in mine.subject
    assert "key" not in repr(identity).lower().replace("public", "")


def test_identity_from_an_environment_variable(pki: ClientPKI) -> None:
    """The password may come from the environment, as for `certificates`."""
    identity = load_identity(
        str(pki.issue("leaf")), PasswordSource(env="P12"), environ={"P12": P12_PASSWORD}
    )
    assert describe(identity).uid == TOPIC


def test_no_uid_gives_no_topic(pki: ClientPKI) -> None:
    """A certificate without a subject UID gives no default topic."""
    identity = load_identity(
        str(pki.issue("bare", uid=None)), PasswordSource(env="P12"), environ={"P12": P12_PASSWORD}
    )
    assert describe(identity).uid is None


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p, d: str(d / "absent.p12"), "missing"),
        (lambda p, d: p.issue("wrong", password="other"), "bad_password"),
        (lambda p, d: (d / "junk.p12").write_bytes(b"junk") and str(d / "junk.p12"), "corrupt"),
    ],
)
def test_unusable_files_say_why(pki: ClientPKI, tmp_path: Path, make, reason: str) -> None:  # type: ignore[no-untyped-def]
    """A missing file, a wrong password or junk raise CertificateError with the reason."""
    path = make(pki, tmp_path)
    with pytest.raises(CertificateError) as caught:
        load_identity(str(path), PasswordSource(env="P12"), environ={"P12": P12_PASSWORD})
    assert caught.value.reason == reason
    assert P12_PASSWORD not in str(caught.value)


def test_unset_password_variable_is_bad_password(pki: ClientPKI) -> None:
    """An unset password variable is a bad_password, as for `certificates`."""
    with pytest.raises(CertificateError) as caught:
        load_identity(str(pki.issue("leaf")), PasswordSource(env="NOPE"), environ={})
    assert caught.value.reason == "bad_password"


class _Recorder:
    """Sees the files when ssl would load them: modes, contents, password."""

    def __init__(self) -> None:
        self.seen: dict[str, object] = {}

    def load_cert_chain(self, certfile: str, keyfile: str, password: bytes) -> None:
        directory = os.path.dirname(keyfile)
        self.seen = {
            "directory": directory,
            "dir_mode": stat.S_IMODE(os.stat(directory).st_mode),
            "key_mode": stat.S_IMODE(os.stat(keyfile).st_mode),
            "cert_mode": stat.S_IMODE(os.stat(certfile).st_mode),
            "key": Path(keyfile).read_bytes(),
            "cert": Path(certfile).read_bytes(),
            "password": password,
        }


def test_key_goes_through_a_private_directory_removed_at_once(pki: ClientPKI) -> None:
    """0700 directory, 0600 files, the key encrypted with a one-time password; all gone after."""
    identity = load_identity(
        str(pki.issue("leaf")), PasswordSource(env="P12"), environ={"P12": P12_PASSWORD}
    )
    first, second = _Recorder(), _Recorder()
    load_client_certificate(first, identity)
    load_client_certificate(second, identity)
    seen = first.seen
    assert seen["dir_mode"] == 0o700
    assert seen["key_mode"] == seen["cert_mode"] == 0o600
    assert not os.path.exists(str(seen["directory"]))
    key_pem = seen["key"]
    assert isinstance(key_pem, bytes) and b"ENCRYPTED PRIVATE KEY" in key_pem
    with pytest.raises(TypeError):  # encrypted: unreadable without its password
        load_pem_private_key(key_pem, password=None)
    assert load_pem_private_key(key_pem, password=seen["password"])  # type: ignore[arg-type]
    assert seen["password"] != second.seen["password"]
    assert P12_PASSWORD.encode() not in key_pem
    assert seen["cert"].count(b"BEGIN CERTIFICATE") == 2  # type: ignore[union-attr]


def test_directory_is_removed_when_loading_fails(pki: ClientPKI, tmp_path: Path) -> None:
    """Even when ssl refuses the files, the directory is removed."""
    made: list[str] = []

    def make_dir() -> str:
        made.append(tempfile.mkdtemp(dir=tmp_path))
        return made[-1]

    class Refuses:
        def load_cert_chain(self, certfile: str, keyfile: str, password: bytes) -> None:
            raise ssl.SSLError("refused")

    identity = load_identity(
        str(pki.issue("leaf")), PasswordSource(env="P12"), environ={"P12": P12_PASSWORD}
    )
    with pytest.raises(ssl.SSLError):
        load_client_certificate(Refuses(), identity, make_temp_dir=make_dir)
    assert made and not os.path.exists(made[0])


def test_context_is_tls12_plus_h2_and_verifies(pki: ClientPKI) -> None:
    """The real context: TLS 1.2 at least, hostname checked, certificate required."""
    identity = load_identity(
        str(pki.issue("leaf")), PasswordSource(env="P12"), environ={"P12": P12_PASSWORD}
    )
    context = client_context(identity, ca_file=str(pki.ca_file))
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.check_hostname and context.verify_mode == ssl.CERT_REQUIRED
