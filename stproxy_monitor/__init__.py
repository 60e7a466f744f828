"""stproxy-monitor: watch IBM Sametime Proxy logs and APNS certificates, export Prometheus metrics."""

__version__ = "0.1.0"
