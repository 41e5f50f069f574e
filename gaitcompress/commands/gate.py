"""`gaitcompress gate` (placeholder until its issue lands)."""


def gate() -> None:
    """CI accuracy gate."""
    raise NotImplementedError
