"""Evaluation protocols, registered by name in `PROTOCOLS` (casiab, gait3d, oumvlp, grew)."""

from gaitcompress.evaluation.protocols import crossview, gait3d, grew  # noqa: F401  (registers)
from gaitcompress.evaluation.protocols.base import PROTOCOLS, EvalProtocol

__all__ = ["PROTOCOLS", "EvalProtocol"]
