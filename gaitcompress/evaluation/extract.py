"""Feature extraction and evaluation entry points: `extract_features`, `evaluate`, `evaluate_model`.

`evaluate_model` is what training, distillation, quantization and the CLI call: build the test
loader, run the model once over it, score the features with a named protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import torch

from gaitcompress.data.batch import Batch, SeqMeta
from gaitcompress.errors import GaitCompressError
from gaitcompress.evaluation.features import Features
from gaitcompress.evaluation.protocols import PROTOCOLS, EvalProtocol
from gaitcompress.evaluation.ranking import Ranker, Reranker
from gaitcompress.evaluation.result import EvalResult
from gaitcompress.progress import NULL, Tracker

GaitModel = Callable[..., Mapping[str, torch.Tensor]]


def extract_features(
    model: GaitModel,
    loader: Iterable[Batch],
    device: str | torch.device = "cpu",
    tracker: Tracker = NULL,
    keep_parts: bool = False,
) -> Features:
    """Run `model(sils, lengths=lengths)` over `loader` and collect `embeddings` (and `parts`) on the CPU.

    The model runs in eval mode under `torch.no_grad()`; an `nn.Module`'s previous train/eval mode is
    restored afterwards, so calling this mid-training is safe. Any callable returning the output dict works.
    """
    was_training = getattr(model, "training", None)
    if isinstance(model, torch.nn.Module):
        model.eval()
    embeddings: list[torch.Tensor] = []
    parts: list[torch.Tensor] = []
    meta: list[SeqMeta] = []
    total = len(loader) if hasattr(loader, "__len__") else None
    try:
        with torch.no_grad(), tracker.task("extracting features", total) as step:
            for batch in loader:
                out = model(batch.sils.to(device), lengths=batch.lengths.to(device))
                if "embeddings" not in out:
                    raise GaitCompressError(
                        f"model output has no 'embeddings' (keys: {sorted(out)})",
                        "gait models must return the output dict of docs/architecture.md",
                    )
                embeddings.append(out["embeddings"].float().cpu())  # [n, C, P]
                if keep_parts:
                    if "parts" not in out:
                        raise GaitCompressError(
                            "model output has no 'parts', which re-ranking needs",
                            "use a model that returns strip features as `parts`",
                        )
                    parts.append(out["parts"].float().cpu())  # [n, C', P]
                meta.extend(batch.meta)
                step(1)
    finally:
        if isinstance(model, torch.nn.Module) and was_training:
            model.train()
    if not embeddings:
        raise GaitCompressError("the test loader yielded no batches", "check the dataset's TEST_SET partition")
    return Features(torch.cat(embeddings), meta, torch.cat(parts) if keep_parts else None)


def build_protocol(protocol: str | EvalProtocol, **kwargs: Any) -> EvalProtocol:
    """A protocol instance from its registered name (`casiab`, `gait3d`, `oumvlp`, `grew`) or as given."""
    if isinstance(protocol, str):
        return PROTOCOLS.build(protocol, **kwargs)
    if kwargs:
        raise GaitCompressError(f"protocol options {sorted(kwargs)} given with a protocol instance")
    return protocol


def evaluate(
    features: Features,
    protocol: str | EvalProtocol = "casiab",
    metric: str = "euc",
    rerank: Reranker | None = None,
    **kwargs: Any,
) -> EvalResult:
    """Score `features` with `protocol` (a registered name + its `kwargs`, or an instance).

    `metric` is `euc` (mean per-part Euclidean) or `cos` (1 − mean per-part cosine); `rerank` refines
    every probe × gallery distance matrix the protocol ranks (k-reciprocal, CarGait).
    """
    return build_protocol(protocol, **kwargs).evaluate(features, Ranker(metric=metric, rerank=rerank))


def _cfg_get(cfg: Any, key: str, default: Any = None) -> Any:
    return cfg.get(key, default) if isinstance(cfg, Mapping) else getattr(cfg, key, default)


def evaluate_model(
    model: GaitModel,
    data_cfg: Any,
    protocol: str | EvalProtocol | None = None,
    tracker: Tracker = NULL,
    device: str | torch.device = "cpu",
    metric: str = "euc",
    rerank: Reranker | None = None,
    split: str = "test",
    **protocol_kwargs: Any,
) -> EvalResult:
    """Build the loader of `split` from `data_cfg`, extract features, evaluate.

    `protocol` defaults to the data config's `protocol` field when it has one, else `casiab`. For `gait3d`
    without an explicit `probe_set`/`probe_types`, the partition's PROBE_SET is used. `split="val"` scores the
    training ids `data.val_ids` holds out (`gaitcompress.data.holdout`) with the same protocol.
    """
    from gaitcompress.data import build_test_loader, probe_set

    protocol = protocol or _cfg_get(data_cfg, "protocol") or "casiab"
    if protocol == "gait3d" and not {"probe_set", "probe_types"} & protocol_kwargs.keys():
        if split != "test":
            raise GaitCompressError(
                f"eval.split={split} with the gait3d protocol: the partition's PROBE_SET names test sequences only",
                "score the validation ids with a protocol that needs no PROBE_SET (eval.protocol=casiab), "
                "or use eval.split=test",
            )
        protocol_kwargs["probe_set"] = probe_set(data_cfg)
    loader = build_test_loader(data_cfg, split=split)
    features = extract_features(model, loader, device, tracker, keep_parts=rerank is not None)
    return evaluate(features, protocol, metric=metric, rerank=rerank, **protocol_kwargs)
