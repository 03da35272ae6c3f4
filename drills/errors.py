"""The one exception type for expected failures (shown as one line, exit status 1)."""


class DrillError(Exception):
    """An expected failure; the message says what happened and what to do."""
