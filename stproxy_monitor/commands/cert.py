"""The ``cert`` command: one report per certificate, with a Nagios-style exit status.

Exit status is the worst over every certificate and file, in the order
OK (0) < WARNING (1) < UNKNOWN (3) < CRITICAL (2): a file that cannot be read (missing,
permission, bad_password, corrupt) is UNKNOWN and outranks a WARNING, since nothing can be said
about the certificate in it, but a certificate known to be expired, not yet valid or within the
critical window outranks it. The file's problems (certs.facts) are reported with its leaf: any
problem makes the leaf at least WARNING, no_private_key, key_mismatch, sandbox_only and
topic_mismatch make it CRITICAL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from stproxy_monitor.certs.facts import ADVICE, checked_problems, problem_status
from stproxy_monitor.certs.files import (
    PasswordSource,
    ReadBytes,
    inspect_certificate_file,
    node_from_path,
)
from stproxy_monitor.certs.inspection import CertificateInfo, FileFacts, Inspection, days_left
from stproxy_monitor.commands.nagios import certificate_status
from stproxy_monitor.config import DEFAULT_EXPECTED_TOPIC
from stproxy_monitor.errors import CertificateError
from stproxy_monitor.states import Status, worst_status


def _read_file(path: Path) -> bytes:
    return path.read_bytes()


@dataclass(frozen=True, slots=True, kw_only=True)
class _Thresholds:
    now: float
    warn_days: float
    critical_days: float
    expected_topic: str = DEFAULT_EXPECTED_TOPIC


def cert_command(
    paths: Sequence[str],
    *,
    password_file: str | None,
    password_env: str | None,
    as_json: bool,
    warn_days: float,
    critical_days: float,
    now: float,
    environ: Mapping[str, str],
    out: TextIO,
    read_bytes: ReadBytes = _read_file,
    expected_topic: str = DEFAULT_EXPECTED_TOPIC,
) -> int:
    """Report every certificate in ``paths`` on ``out``; return the worst status (module doc)."""
    if password_file is not None and password_env is not None:
        out.write("cert: --password-file and --password-env exclude each other\n")
        return Status.UNKNOWN
    source = None
    if password_file is not None or password_env is not None:
        file = None if password_file is None else Path(password_file)
        source = PasswordSource(file=file, env=password_env)
    limits = _Thresholds(
        now=now, warn_days=warn_days, critical_days=critical_days, expected_topic=expected_topic
    )
    reports: list[dict[str, Any]] = []
    for path in paths:
        try:
            found = inspect_certificate_file(path, source, read_bytes=read_bytes, environ=environ)
        except CertificateError as exc:
            reports.append(_error_report(path, exc))
        else:
            reports.extend(_file_reports(path, found, limits))
    if as_json:
        _write_json(reports, out)
    else:
        _write_text(reports, out)
    return worst_status(report["status_code"] for report in reports)


def _file_reports(
    path: str, inspection: Inspection, limits: _Thresholds
) -> list[dict[str, Any]]:
    """One report per certificate; the leaf's also holds the file's facts and problems."""
    checked = checked_problems(inspection, expected_topic=limits.expected_topic)
    found = [name for name, holds in checked.items() if holds]
    reports = []
    for info in inspection.certificates:
        report = _certificate_report(path, info, limits)
        report["problems"] = found if info.is_leaf else []
        if info.is_leaf:
            report |= _file_facts(inspection.facts, checked)
            status = worst_status([report["status_code"], problem_status(found)])
            report["status"], report["status_code"] = status.name.lower(), int(status)
        reports.append(report)
    return reports


def _file_facts(facts: FileFacts, checked: Mapping[str, bool]) -> dict[str, Any]:
    """The file's own facts, for the leaf's report (None where not known)."""
    return {
        "format": facts.kind,
        "private_key": facts.has_key,
        "key_matches_certificate": facts.key_matches,
        "encryption": list(facts.encryption),
        "mac": facts.mac or None,
        "checked_problems": list(checked),
    }


def _certificate_report(path: str, info: CertificateInfo, limits: _Thresholds) -> dict[str, Any]:
    status = certificate_status(
        info, limits.now, warn_days=limits.warn_days, critical_days=limits.critical_days
    )
    return {
        "path": path,
        "node": node_from_path(path),
        "position": info.position,
        "is_leaf": info.is_leaf,
        "subject": info.subject,
        "issuer": info.issuer,
        "serial": info.serial,
        "not_before": _iso(info.not_before),
        "not_after": _iso(info.not_after),
        "not_before_timestamp": info.not_before,
        "not_after_timestamp": info.not_after,
        "days_left": days_left(info, limits.now),
        "validity": _validity(info, limits.now),
        "status": status.name.lower(),
        "status_code": int(status),
        "sha256": info.sha256,
        "sha1": info.sha1,
        "md5": info.md5,
        "environment": info.environment,
        "topic": info.uid,
        "topics": list(info.topics),
        "apple_issued": info.apple_issued,
    }


def _error_report(path: str, exc: CertificateError) -> dict[str, Any]:
    return {
        "path": path,
        "node": node_from_path(path),
        "error": exc.reason,
        "message": str(exc),
        "status": Status.UNKNOWN.name.lower(),
        "status_code": int(Status.UNKNOWN),
    }


def _validity(info: CertificateInfo, now: float) -> str:
    if now < info.not_before:
        return "not_yet_valid"
    return "expired" if now >= info.not_after else "valid"


def _iso(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _colons(hex_digest: str) -> str:
    """Uppercase, colon-separated octets, as the IBM verification tool printed fingerprints."""
    return ":".join(hex_digest[i : i + 2] for i in range(0, len(hex_digest), 2)).upper()


def _write_json(reports: list[dict[str, Any]], out: TextIO) -> None:
    json.dump(reports, out, indent=2)
    out.write("\n")


def _write_text(reports: list[dict[str, Any]], out: TextIO) -> None:
    blocks = [_text_block(report) for report in reports]
    out.write("\n\n".join(blocks) + ("\n" if blocks else ""))


def _text_block(report: dict[str, Any]) -> str:
    if "error" in report:
        return f"{report['message']}\nStatus: UNKNOWN"
    notes = {"expired": " (expired)", "not_yet_valid": " (not yet valid)", "valid": ""}
    role = "leaf" if report["is_leaf"] else "chain"
    return "\n".join(
        [
            f"File: {report['path']} (certificate {report['position'] + 1}, {role})",
            f"IssuerDN: {report['issuer']}",
            f"SubjectDN: {report['subject']}",
            f"From (yyyy-mm-dd): {report['not_before'][:10]}",
            f"To (yyyy-mm-dd): {report['not_after'][:10]}",
            f"Days left: {report['days_left']:.1f}{notes[report['validity']]}",
            f"Status: {report['status'].upper()}",
            f"Serial: {report['serial']}",
            f"SHA-256: {_colons(report['sha256'])}",
            f"SHA-1: {_colons(report['sha1'])}",
            f"MD5: {_colons(report['md5'])}",
            f"Environment: {report['environment']}",
            f"Topic: {report['topic'] or '(no UID)'}{_other_topics(report)}",
            *(_leaf_lines(report) if report["is_leaf"] else []),
        ]
    )


def _other_topics(report: dict[str, Any]) -> str:
    others = [t for t in report["topics"] if t != report["topic"]]
    return f" (also: {', '.join(others)})" if others else ""


def _leaf_lines(report: dict[str, Any]) -> list[str]:
    """The file's facts and problems, under its leaf."""
    lines = []
    if report["private_key"] is not None:
        key = "absent"
        if report["private_key"]:
            matches = report["key_matches_certificate"]
            key = "present, " + ("matches the certificate" if matches else "NOT the certificate's")
        lines.append(f"Private key: {key}")
    if report["format"] == "pkcs12":
        encryption = ", ".join(report["encryption"]) or "none"
        mac = f" (MAC {report['mac']})" if report["mac"] else ""
        lines.append(f"Encryption: {encryption}{mac}")
    if not report["problems"]:
        return [*lines, "Problems: none"]
    return [*lines, *(f"Problem: {name}: {ADVICE[name]}" for name in report["problems"])]
