"""The one exception type qgan raises for bad input; stages print it as one line and exit 2."""


class QganError(Exception):
    """A user-facing error: its message is one line that names what was wrong."""


class ConfigError(QganError):
    """A parameter in params.yaml is missing, mistyped or out of range."""
