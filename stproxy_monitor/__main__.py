"""Entry points: the ``stproxy-monitor`` console script and ``python -m stproxy_monitor``."""

import os
import signal
import sys

from stproxy_monitor.cli import main


def main_entry() -> None:
    """Run a command; a reader that went away (``cert --json | head``) ends it without a trace."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Python's advice: point stdout at devnull so that the flush at exit cannot fail again
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 128 + signal.SIGPIPE  # what a shell reports for a command killed by SIGPIPE
    sys.exit(status)


if __name__ == "__main__":
    main_entry()
