"""The daemon's own health as metric families: build, configuration reload, positions, watcher."""

from __future__ import annotations

import platform
from collections.abc import Iterator
from dataclasses import dataclass

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    InfoMetricFamily,
    Metric,
)

from stproxy_monitor import __version__


@dataclass(frozen=True, slots=True, kw_only=True)
class SelfStatus:
    """Values of the self-metrics; None for what the collector was not given."""

    reload: tuple[bool, float] | None
    positions: tuple[int, int, float | None] | None  # load errors, save errors, last save
    watcher_alive: bool | None


def self_families(status: SelfStatus) -> Iterator[Metric]:
    """Build info, reload status, positions store and watcher health."""
    info = InfoMetricFamily(
        "stproxy_monitor_build",
        "stproxy-monitor build information.",
        labels=("version", "python_version"),
    )
    info.add_metric([__version__, platform.python_version()], {})
    yield info
    if status.reload is not None:
        ok, when = status.reload
        yield GaugeMetricFamily(
            "stproxy_monitor_config_last_reload_successful",
            "1 if the last configuration (re)load succeeded.",
            value=int(ok),
        )
        yield GaugeMetricFamily(
            "stproxy_monitor_config_last_reload_success_timestamp_seconds",
            "Time of the last successful configuration (re)load.",
            value=when,
        )
    if status.positions is not None:
        yield from _positions_families(*status.positions)
    if status.watcher_alive is not None:
        yield GaugeMetricFamily(
            "stproxy_monitor_watcher_alive",
            "1 while the file-system event observer runs; the periodic stat works without it.",
            value=int(status.watcher_alive),
        )


def _positions_families(
    load_errors: int, save_errors: int, last_save: float | None
) -> Iterator[Metric]:
    """Health of the positions store."""
    yield CounterMetricFamily(
        "stproxy_monitor_positions_load_errors",
        "Positions files found unreadable or corrupt (then replaced).",
        value=load_errors,
    )
    yield CounterMetricFamily(
        "stproxy_monitor_positions_save_errors",
        "Failed writes of the positions file (full disk, read-only directory).",
        value=save_errors,
    )
    if last_save is not None:
        yield GaugeMetricFamily(
            "stproxy_monitor_positions_last_save_timestamp_seconds",
            "Time of the last successful positions write.",
            value=last_save,
        )
