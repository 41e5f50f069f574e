"""`gaitcompress info` (placeholder until its issue lands)."""


def info() -> None:
    """Show params, MACs, BitOPs of a checkpoint."""
    raise NotImplementedError
