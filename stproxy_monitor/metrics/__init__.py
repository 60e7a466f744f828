"""The metrics wing: state and certificates as Prometheus metric families and exposition."""
