"""Tests for commands.nagios: certificate states under thresholds, perfdata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from stproxy_monitor.certs.inspection import CertificateInfo
from stproxy_monitor.commands.nagios import Perf, certificate_status, status_for
from stproxy_monitor.states import Status


def _info(*, not_before: float, not_after: float) -> CertificateInfo:
    return CertificateInfo(
        subject="CN=x",
        issuer="CN=y",
        serial="1",
        not_before=not_before,
        not_after=not_after,
        sha256="00",
        sha1="00",
        md5="00",
        is_leaf=True,
        position=0,
    )


@pytest.mark.parametrize(
    ("left", "expected"),
    [(200.0, 0), (30.0, 0), (29.99, 1), (7.0, 1), (6.99, 2), (0.0, 2), (-5.0, 2)],
)
def test_status_for_thresholds(left: float, expected: int) -> None:
    """Below warn days is WARNING, below critical days (so also expired) is CRITICAL."""
    assert status_for(left, 30, 7) == expected


def test_not_yet_valid_is_critical() -> None:
    """A certificate whose validity has not started is CRITICAL whatever its days left."""
    now = datetime(2025, 1, 1, tzinfo=UTC)
    start = (now + timedelta(days=1)).timestamp()
    info = _info(not_before=start, not_after=start + 365 * 86400)
    assert certificate_status(info, now.timestamp(), warn_days=30, critical_days=7) == 2
    later = start + 86400
    assert certificate_status(info, later, warn_days=30, critical_days=7) == Status.OK


@pytest.mark.parametrize(
    ("perf", "text"),
    [
        (Perf(label="failures", value=3), "'failures'=3"),
        (
            Perf(label="days_left_min", value=12.345, uom="d", warn="30:", crit="7:", digits=1),
            "'days_left_min'=12.3d;30:;7:",
        ),
        (Perf(label="x", value=1, crit="2"), "'x'=1;;2"),
    ],
)
def test_perfdata_in_nagios_syntax(perf: Perf, text: str) -> None:
    """A value with its unit, thresholds in their places, empty trailing fields left out."""
    assert perf.render() == text
