"""Tests for stproxy_monitor.certs.files: passwords, OS errors and the identity-keyed cache."""

from __future__ import annotations

import glob
import os
import shutil
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stproxy_monitor.certs.files import (
    CertificateCache,
    CertificateSource,
    ListingKeyedGlob,
    PasswordSource,
    node_from_path,
    read_certificate_file,
)
from stproxy_monitor.errors import CertificateError

EPSILON_DAYS = 1e-6


def _case(manifest: dict[str, Any], case: str) -> dict[str, Any]:
    return manifest["files"][case]  # type: ignore[no-any-return]


def _file_source(manifest: dict[str, Any], case: str) -> PasswordSource:
    return PasswordSource(file=Path(_case(manifest, case)["password_file"]))


def _read_error(
    path: str | Path, source: PasswordSource | None = None, **kw: Any
) -> CertificateError:
    with pytest.raises(CertificateError) as caught:
        read_certificate_file(path, source, **kw)
    return caught.value


class CountingReader:
    """A read_bytes that reads real files and counts reads per path."""

    def __init__(self) -> None:
        self.reads: Counter[str] = Counter()
        self.lock = threading.Lock()

    def __call__(self, path: Path) -> bytes:
        with self.lock:
            self.reads[str(path)] += 1
        return path.read_bytes()


def test_password_file_trailing_newline_is_stripped(cert_manifest: dict[str, Any]) -> None:
    """A password file ending in a newline opens the PKCS#12 (the newline is not the password)."""
    pass_file = Path(_case(cert_manifest, "valid")["password_file"])
    assert pass_file.read_bytes().endswith(b"\n")
    infos = read_certificate_file(
        _case(cert_manifest, "valid")["path"], PasswordSource(file=pass_file)
    )
    assert infos[0].serial == _case(cert_manifest, "valid")["certificates"][0]["serial"]


def test_crlf_password_file_is_stripped(cert_manifest: dict[str, Any], tmp_path: Path) -> None:
    """A password file saved with a Windows line end still gives the bare password."""
    pass_file = tmp_path / "apns.pass"
    pass_file.write_bytes(cert_manifest["password"].encode() + b"\r\n")
    source = PasswordSource(file=pass_file)
    assert source.resolve(environ={}) == cert_manifest["password"].encode()


def test_password_from_injected_environment(cert_manifest: dict[str, Any]) -> None:
    """A password environment variable is looked up in the injected environ at read time."""
    source = PasswordSource(env="APNS_PASS")
    environ = {"APNS_PASS": cert_manifest["password"]}
    infos = read_certificate_file(_case(cert_manifest, "expiring")["path"], source, environ=environ)
    assert days_left_of(infos[0].not_after, cert_manifest) == pytest.approx(20.0, abs=EPSILON_DAYS)


def days_left_of(not_after: float, manifest: dict[str, Any]) -> float:
    """Days from the manifest's now to not_after."""
    return (not_after - manifest["now"]) / 86400


def test_unset_environment_variable_is_bad_password(cert_manifest: dict[str, Any]) -> None:
    """A protected file whose password variable is unset fails with bad_password naming it."""
    error = _read_error(
        _case(cert_manifest, "valid")["path"], PasswordSource(env="NOPE"), environ={}
    )
    assert error.reason == "bad_password"
    assert "NOPE is not set" in str(error)


def test_unusable_password_source_does_not_matter_for_unprotected_files(
    cert_manifest: dict[str, Any],
) -> None:
    """An unprotected PKCS#12 or a PEM reads fine even when the password source is broken."""
    source = PasswordSource(env="NOPE")
    for case in ("no_password", "pem", "der"):
        assert read_certificate_file(_case(cert_manifest, case)["path"], source, environ={})


def test_missing_password_file_is_password_file_missing(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """A protected file whose password file is missing says so (not bad_password), naming it."""
    source = PasswordSource(file=tmp_path / "absent.pass")
    error = _read_error(_case(cert_manifest, "valid")["path"], source)
    assert error.reason == "password_file_missing"
    assert f"password file {tmp_path / 'absent.pass'}: no such file" in str(error)


def test_wrong_password_file_is_bad_password_and_no_secret_leaks(
    cert_manifest: dict[str, Any],
) -> None:
    """A wrong password gives bad_password; neither password appears in the message or repr."""
    case = _case(cert_manifest, "wrong_password")
    error = _read_error(case["path"], PasswordSource(file=Path(case["password_file"])))
    assert error.reason == "bad_password"
    assert str(error).startswith(f"{case['path']}: cannot read: bad_password (")
    for secret in (cert_manifest["password"], cert_manifest["wrong_password"]):
        assert secret not in str(error)
        assert secret not in repr(error)


def test_corrupt_file_is_corrupt(cert_manifest: dict[str, Any]) -> None:
    """A damaged PKCS#12 gives reason corrupt even with the right password."""
    assert (
        _read_error(
            _case(cert_manifest, "corrupt")["path"], _file_source(cert_manifest, "valid")
        ).reason
        == "corrupt"
    )


def test_missing_file_and_directory_are_missing(tmp_path: Path) -> None:
    """A path that does not exist, or names a directory, gives reason missing."""
    assert _read_error(tmp_path / "absent.p12").reason == "missing"
    assert _read_error(tmp_path).reason == "missing"
    assert _read_error(tmp_path / "absent" / "apns-prod.pkcs12").reason == "missing"


def test_injected_permission_error_is_permission(tmp_path: Path) -> None:
    """A PermissionError from the reader gives reason permission."""

    def denied(path: Path) -> bytes:
        raise PermissionError(13, "Permission denied", str(path))

    error = _read_error(tmp_path / "apns.p12", read_bytes=denied)
    assert error.reason == "permission"
    assert "permission denied" in str(error)


def test_other_os_error_is_permission(tmp_path: Path) -> None:
    """Any other OS error (an I/O error, say) is reported as permission: the file is unreadable."""

    def broken(path: Path) -> bytes:
        raise OSError(5, "Input/output error")

    assert _read_error(tmp_path / "apns.p12", read_bytes=broken).reason == "permission"


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads mode 000 files")
def test_real_unreadable_file_is_permission(cert_manifest: dict[str, Any], tmp_path: Path) -> None:
    """A real file with mode 000 gives reason permission."""
    path = tmp_path / "apns.p12"
    shutil.copy(_case(cert_manifest, "valid")["path"], path)
    path.chmod(0)
    try:
        assert _read_error(path).reason == "permission"
    finally:
        path.chmod(0o600)


def test_password_source_repr_shows_no_secret(cert_manifest: dict[str, Any]) -> None:
    """PasswordSource names where the password is, never the password."""
    environ = {"APNS_PASS": cert_manifest["password"]}
    source = PasswordSource(env="APNS_PASS")
    assert source.resolve(environ=environ) == cert_manifest["password"].encode()
    assert cert_manifest["password"] not in repr(source)
    assert repr(source) == "PasswordSource(file=None, env='APNS_PASS')"


def test_password_source_rejects_both_file_and_env(tmp_path: Path) -> None:
    """A password source is a file or an environment variable, not both."""
    with pytest.raises(ValueError, match="not both"):
        PasswordSource(file=tmp_path / "p", env="X")


@pytest.mark.parametrize(
    ("path", "node"),
    [
        (
            "/opt/IBM/WebSphere/AppServer/profiles/Dmgr01/config/cells/c/nodes/n1/apns-prod.pkcs12",
            "n1",
        ),
        (
            r"C:\IBM\WebSphere\profiles\Dmgr01\config\cells\c\nodes\stproxyNode2\apns-prod.pkcs12",
            "stproxyNode2",
        ),
        ("/etc/stproxy-monitor/apns-prod.pkcs12", ""),
        ("/x/nodes/n1/other.p12", ""),
        ("apns-prod.pkcs12", ""),
    ],
)
def test_node_from_path(path: str, node: str) -> None:
    """The node label comes from .../nodes/<node>/apns-prod.pkcs12 with either separator."""
    assert node_from_path(path) == node


def _copy_certs(manifest: dict[str, Any], tmp_path: Path, *cases: str) -> dict[str, Path]:
    copies = {}
    for case in cases:
        copies[case] = tmp_path / Path(_case(manifest, case)["path"]).name
        shutil.copy(_case(manifest, case)["path"], copies[case])
    return copies


def test_cache_reads_each_file_once_until_it_changes(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """Refreshing re-reads a file only after its identity (inode, size, mtime) changes."""
    files = _copy_certs(cert_manifest, tmp_path, "valid", "expiring")
    reader = CountingReader()
    source = PasswordSource(env="P")
    cache = CertificateCache(
        [CertificateSource(path=str(files["valid"]), password=source)],
        read_bytes=reader,
        environ={"P": cert_manifest["password"]},
    )
    for _ in range(3):
        snapshot = cache.refresh()
    assert reader.reads[str(files["valid"])] == 1
    assert snapshot.files[str(files["valid"])].read_ok
    shutil.copy(files["expiring"], tmp_path / "new.p12")
    os.replace(tmp_path / "new.p12", files["valid"])
    snapshot = cache.refresh()
    assert reader.reads[str(files["valid"])] == 2
    assert (
        snapshot.certificates[0].info.serial
        == _case(cert_manifest, "expiring")["certificates"][0]["serial"]
    )


def test_cache_keys_on_stat_identity(cert_manifest: dict[str, Any], tmp_path: Path) -> None:
    """With an injected stat that never changes, a rewritten file is not re-read."""
    files = _copy_certs(cert_manifest, tmp_path, "pem", "der")

    @dataclass
    class FixedStat:
        st_dev: int = 1
        st_ino: int = 2
        st_size: int = 3
        st_mtime_ns: int = 4_000_000_000

    reader = CountingReader()
    cache = CertificateCache(
        [CertificateSource(path=str(files["pem"]))], stat=lambda _: FixedStat(), read_bytes=reader
    )
    first = cache.refresh()
    shutil.copy(files["der"], files["pem"])
    second = cache.refresh()
    assert reader.reads[str(files["pem"])] == 1
    assert second.certificates == first.certificates
    assert second.files[str(files["pem"])].mtime == pytest.approx(4.0)


def test_read_errors_are_counted_once_per_identity(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """A failing file counts one error per change of the file, not one per scrape."""
    path = tmp_path / "apns.p12"
    cache = CertificateCache([CertificateSource(path=str(path))])
    for _ in range(3):
        snapshot = cache.refresh()
    assert snapshot.read_errors_total == {(str(path), "missing"): 1}
    assert snapshot.files[str(path)].read_ok is False
    assert snapshot.files[str(path)].reason == "missing"
    shutil.copy(_case(cert_manifest, "corrupt")["path"], path)
    cache.refresh()
    snapshot = cache.refresh()
    assert snapshot.read_errors_total == {(str(path), "missing"): 1, (str(path), "corrupt"): 1}
    path.unlink()
    snapshot = cache.refresh()
    assert snapshot.read_errors_total[(str(path), "missing")] == 2


def test_fixing_the_password_file_triggers_a_re_read(
    cert_manifest: dict[str, Any], tmp_path: Path
) -> None:
    """Replacing a wrong password file makes the next refresh read the certificate again."""
    files = _copy_certs(cert_manifest, tmp_path, "valid")
    pass_file = tmp_path / "apns.pass"
    pass_file.write_text(cert_manifest["wrong_password"] + "\n")
    source = CertificateSource(path=str(files["valid"]), password=PasswordSource(file=pass_file))
    cache = CertificateCache([source])
    assert cache.refresh().files[str(files["valid"])].reason == "bad_password"
    pass_file.write_text(cert_manifest["password"] + "\n\n")
    snapshot = cache.refresh()
    assert snapshot.files[str(files["valid"])].read_ok
    assert snapshot.read_errors_total == {(str(files["valid"]), "bad_password"): 1}


def test_glob_matching_nothing_is_no_error(tmp_path: Path) -> None:
    """A glob that matches nothing yields no files and no errors."""
    cache = CertificateCache([CertificateSource(path=str(tmp_path / "*.p12"))])
    snapshot = cache.refresh()
    assert snapshot.certificates == ()
    assert dict(snapshot.files) == {}
    assert dict(snapshot.read_errors_total) == {}


def test_glob_over_websphere_profiles_labels_nodes(cert_manifest: dict[str, Any]) -> None:
    """A glob over profiles reads every node copy and labels each certificate with its node."""
    dmgr = cert_manifest["profiles"]["Dmgr01"]
    source = CertificateSource(
        path=f"{dmgr}/config/cells/*/nodes/*/apns-prod.pkcs12",
        password=_file_source(cert_manifest, "dmgr_node1"),
    )
    snapshot = CertificateCache([source]).refresh()
    leaves = {(e.node, e.info.serial) for e in snapshot.certificates if e.info.is_leaf}
    assert leaves == {
        ("stproxyNode1", _case(cert_manifest, "dmgr_node1")["certificates"][0]["serial"]),
        ("stproxyNode2", _case(cert_manifest, "dmgr_node2")["certificates"][0]["serial"]),
    }
    assert all(status.read_ok for status in snapshot.files.values())
    assert all(status.mtime is not None for status in snapshot.files.values())


def test_same_file_from_two_sources_is_read_once(cert_manifest: dict[str, Any]) -> None:
    """A path named twice (a file and a glob) appears once, with the first source's password."""
    path = _case(cert_manifest, "valid")["path"]
    sources = [
        CertificateSource(path=path, password=_file_source(cert_manifest, "valid")),
        CertificateSource(path=str(Path(path).parent / "*.p12")),
    ]
    snapshot = CertificateCache(sources).refresh()
    assert [e.path for e in snapshot.certificates].count(path) == 2  # leaf + intermediate
    assert snapshot.files[path].read_ok


def test_snapshot_is_immutable(cert_manifest: dict[str, Any]) -> None:
    """The snapshot's mappings cannot be changed by a consumer."""
    snapshot = CertificateCache(
        [CertificateSource(path=_case(cert_manifest, "pem")["path"])]
    ).refresh()
    with pytest.raises(TypeError):
        snapshot.files["x"] = snapshot.files[_case(cert_manifest, "pem")["path"]]  # type: ignore[index]
    with pytest.raises(TypeError):
        snapshot.read_errors_total[("x", "missing")] = 1  # type: ignore[index]


def test_concurrent_refreshes_read_each_file_once(cert_manifest: dict[str, Any]) -> None:
    """Many threads refreshing at once still read each unchanged file exactly once."""
    reader = CountingReader()
    paths = [_case(cert_manifest, case)["path"] for case in ("pem", "der", "no_password")]
    cache = CertificateCache([CertificateSource(path=p) for p in paths], read_bytes=reader)
    barrier = threading.Barrier(8)
    results = []

    def scrape() -> None:
        barrier.wait()
        results.append(cache.refresh())

    threads = [threading.Thread(target=scrape) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(reader.reads[p] == 1 for p in paths)
    assert all(r.certificates == results[0].certificates for r in results)
    assert len(results[0].certificates) == 4


GLOB_NAMES = [
    "a.p12",
    "b.p12",
    ".hidden.p12",
    "[x].p12",
    "c d.p12",
    "é.p12",
    "a.p12.bak",
    "sub.p12",  # a directory: glob matches directories too
]
GLOB_PATTERNS = ["*.p12", "*", ".*", "[ab].p12", "?.p12", "[[]x].p12", "*.P12", "a.p12*"]


@pytest.mark.parametrize("last", GLOB_PATTERNS)
def test_listing_keyed_glob_matches_what_glob_matches(tmp_path: Path, last: str) -> None:
    """Same matches as glob.glob, and after a file is added or removed, the new ones at once."""
    for name in GLOB_NAMES:
        if name == "sub.p12":
            (tmp_path / name).mkdir()
        else:
            (tmp_path / name).write_bytes(b"")
    expand = ListingKeyedGlob()
    pattern = str(tmp_path / last)

    def check() -> None:
        assert expand(pattern) == sorted(glob.glob(pattern, recursive=True))

    check()
    check()  # from the kept listing
    (tmp_path / "new.p12").write_bytes(b"")
    check()
    (tmp_path / "a.p12").unlink()
    os.replace(tmp_path / "b.p12", tmp_path / "b.p12.old")
    check()


@pytest.mark.parametrize(
    "pattern", ["missing/*.p12", "*/apns-prod.pkcs12", "**/*.p12", "d/**", "d/sub*/x"]
)
def test_listing_keyed_glob_falls_back_to_glob(tmp_path: Path, pattern: str) -> None:
    """Magic in a directory, **, or a directory that is not there: glob's own answer."""
    (tmp_path / "d" / "sub1").mkdir(parents=True)
    (tmp_path / "d" / "sub1" / "x").write_bytes(b"")
    (tmp_path / "d" / "apns-prod.pkcs12").write_bytes(b"")
    (tmp_path / "d" / "a.p12").write_bytes(b"")
    full = str(tmp_path / pattern)
    assert ListingKeyedGlob()(full) == sorted(glob.glob(full, recursive=True))
