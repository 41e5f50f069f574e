"""`gaitcompress pipeline` (placeholder until its issue lands)."""


def pipeline() -> None:
    """Full pipeline."""
    raise NotImplementedError
