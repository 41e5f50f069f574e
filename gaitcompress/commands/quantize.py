"""`gaitcompress quantize` (placeholder until its issue lands)."""


def quantize() -> None:
    """QGait QAT."""
    raise NotImplementedError
