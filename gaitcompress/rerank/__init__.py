"""CarGait re-ranking (DESIGN §11): a cross-attention head over the top-K of a frozen gait model's ranking,
its training on top-v candidate lists, k-reciprocal re-ranking as the baseline, and ONNX export of the head."""

from gaitcompress.rerank.cargait import CarGaitReranker
from gaitcompress.rerank.head import CarGaitHead, HeadSpec, build_head
from gaitcompress.rerank.kreciprocal import KReciprocalReranker, k_reciprocal
from gaitcompress.rerank.stage import load_head, reranker_from

__all__ = [
    "CarGaitHead",
    "CarGaitReranker",
    "HeadSpec",
    "KReciprocalReranker",
    "build_head",
    "k_reciprocal",
    "load_head",
    "reranker_from",
]
