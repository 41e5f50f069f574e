"""`gaitcompress bench` (placeholder until its issue lands)."""


def bench() -> None:
    """Latency benchmark."""
    raise NotImplementedError
