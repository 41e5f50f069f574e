"""Evaluation: part-averaged distances, Rank-k / mAP / mINP, and the CASIA-B, Gait3D, OU-MVLP and GREW protocols.

features = extract_features(model, loader)          # Features(embeddings [N,C,P], meta)
result = evaluate(features, "casiab")                # EvalResult(metrics={'NM@R1': ..., 'mAP': ...})
result = evaluate_model(model, data_cfg)             # test loader + extract + evaluate
"""

from gaitcompress.evaluation.distance import pairwise_distance
from gaitcompress.evaluation.extract import build_protocol, evaluate, evaluate_model, extract_features
from gaitcompress.evaluation.features import Features
from gaitcompress.evaluation.metrics import RetrievalScores, retrieval_scores
from gaitcompress.evaluation.protocols import PROTOCOLS
from gaitcompress.evaluation.ranking import Ranker, Reranker
from gaitcompress.evaluation.report import result_rows
from gaitcompress.evaluation.result import EvalResult, ViewTable

__all__ = [
    "PROTOCOLS",
    "EvalResult",
    "Features",
    "Ranker",
    "Reranker",
    "RetrievalScores",
    "ViewTable",
    "build_protocol",
    "evaluate",
    "evaluate_model",
    "extract_features",
    "pairwise_distance",
    "result_rows",
    "retrieval_scores",
]
