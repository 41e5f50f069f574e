"""`gaitcompress export` (placeholder until its issue lands)."""


def export() -> None:
    """Export to ONNX / TensorRT."""
    raise NotImplementedError
