"""The one exception hierarchy of stproxy-monitor."""


class MonitorError(Exception):
    """Base of every error stproxy-monitor raises on purpose."""


class ConfigError(MonitorError):
    """One or more configuration problems; ``problems`` holds one message per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = list(problems)


class CertificateError(MonitorError):
    """A certificate file could not be read; ``reason`` is a fixed label value."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason
