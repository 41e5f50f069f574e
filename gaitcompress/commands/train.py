"""`gaitcompress train` (placeholder until its issue lands)."""


def train() -> None:
    """Train a gait model from a recipe."""
    raise NotImplementedError


def evaluate() -> None:
    """Evaluate a checkpoint."""
    raise NotImplementedError
