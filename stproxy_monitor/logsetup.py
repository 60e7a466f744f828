"""structlog configured once: JSON lines when not on a terminal, readable lines on one.

Every record goes through one stdlib handler on the root logger: structlog's events (through
stdlib loggers named by module) and other libraries' records (watchdog, asyncio) alike, each
rendered by structlog's ProcessorFormatter. The stream stays one JSON object per line, and
one handler's lock keeps lines from interleaving.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

_HANDLER = "stproxy_monitor"  # the name of the root handler installed here


def configure_logging(
    *, level: str = "info", stream: TextIO | None = None, json: bool | None = None
) -> None:
    """Configure structlog and stdlib logging to write to `stream` (stderr); again replaces."""
    out = stream or sys.stderr
    as_json = (not out.isatty()) if json is None else json
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if as_json else structlog.dev.ConsoleRenderer()
    )
    threshold = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    stamped: list[structlog.typing.Processor] = [
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            *stamped,
            structlog.processors.format_exc_info,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(threshold),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.set_name(_HANDLER)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            # Another library's record: its level, time, logger name and exception, as ours.
            foreign_pre_chain=[
                *stamped,
                structlog.stdlib.add_logger_name,
                structlog.processors.format_exc_info,
            ],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == _HANDLER]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING)  # libraries: warnings and worse
    logging.getLogger("stproxy_monitor").setLevel(threshold)
