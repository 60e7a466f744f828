"""stproxy-monitor: Sametime Proxy APNS certificates and failures as Prometheus metrics."""

__version__ = "0.1.0"
