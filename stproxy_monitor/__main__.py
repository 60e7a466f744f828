"""Entry point for ``python -m stproxy_monitor``."""

from stproxy_monitor.cli import main_entry

if __name__ == "__main__":
    main_entry()
