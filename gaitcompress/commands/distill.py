"""`gaitcompress distill` (placeholder until its issue lands)."""


def distill() -> None:
    """GaitKD distillation."""
    raise NotImplementedError
