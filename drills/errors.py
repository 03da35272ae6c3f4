"""The one exception type for expected failures (shown as one line, exit status 1)."""


class DrillError(Exception):
    """An expected failure; the message says what happened and what to do."""


def expected_errors() -> tuple[type[Exception], ...]:
    """Every failure the CLI shows as one line: ours, and the engine's."""
    from engine.catalog import CardError
    from engine.clock import ClockError
    from engine.reader import StoreError

    return (DrillError, CardError, ClockError, StoreError)
