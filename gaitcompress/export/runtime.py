"""onnxruntime sessions for exported models, and what the graph optimiser made of them.

onnxruntime turns `DequantizeLinear → Conv → QuantizeLinear` into one `QLinearConv` (and the like for
Add, MatMul) only at graph optimisation level EXTENDED or higher, so every session here uses ALL.
`fused_integer_nodes` saves the optimised graph (`SessionOptions.optimized_model_filepath`) and counts
the integer kernels in it — the honest measure of whether an INT8 export really runs in INT8.

Before fusing, onnxruntime rounds the float bias of every Conv between DQ'd input and weight that feeds a Q
to int32 on the grid s_x·s_w (its `WeightBiasQuantization` pass). The `ort` export writes that int32 bias
itself (`onnx_passes.quantize_conv_bias`). A `trt` graph keeps its float bias, as TensorRT runs it; on
onnxruntime CPU such a graph runs as a float QDQ simulation anyway, and `FLOAT_BIAS` (the pass turned off)
makes that simulation TensorRT's arithmetic instead of a mix (the pass would round 8 of the quick student's
13 conv biases, those followed by a Q: measured one-step flips at 0.02–0.7 % of the first block's values).
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import onnx
import onnxruntime as ort

from gaitcompress.errors import GaitCompressError

# Integer kernels onnxruntime (CPU contrib ops included) fuses QDQ groups into.
INTEGER_OPS = (
    "QLinearConv",
    "QLinearAdd",
    "QLinearMul",
    "QLinearMatMul",
    "QLinearGlobalAveragePool",
    "QLinearAveragePool",
    "QLinearConcat",
    "QLinearLeakyRelu",
    "QLinearSigmoid",
    "QGemm",
    "QLinearReduceMean",
    "QLinearWhere",
    "ConvInteger",
    "MatMulInteger",
    "DynamicQuantizeMatMul",
    "MatMulIntegerToFloat",
)
FLOAT_BIAS = ("WeightBiasQuantization",)  # onnxruntime optimisers to turn off to keep float conv biases
PROVIDERS = {"cpu": ["CPUExecutionProvider"], "cuda": ["CUDAExecutionProvider", "CPUExecutionProvider"]}


LEVELS = {
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,  # what deploys: QDQ fused into integer kernels
    "none": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,  # every node as written: the float QDQ simulation
}


def session_options(
    threads: int = 0, optimized_path: str | Path | None = None, level: str = "all"
) -> ort.SessionOptions:
    """Graph optimisation `level` ('all' fuses QDQ, as ≥ EXTENDED does); `threads` > 0 pins the intra-op pool."""
    opts = ort.SessionOptions()
    opts.graph_optimization_level = LEVELS[level]
    opts.log_severity_level = 3  # errors only: fp16 graphs on CPU log a note per inserted Cast
    if threads:
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
    if optimized_path is not None:
        opts.optimized_model_filepath = str(optimized_path)
    return opts


def make_session(
    path: str | Path,
    device: str = "cpu",
    threads: int = 0,
    optimized_path: str | Path | None = None,
    level: str = "all",
    disabled_optimizers: Sequence[str] = (),
) -> ort.InferenceSession:
    """An onnxruntime session on `device` ('cpu' or 'cuda'), refusing a CUDA request it cannot honour.

    `disabled_optimizers`: onnxruntime graph transformers to skip by name (e.g. `FLOAT_BIAS`).
    """
    if device not in PROVIDERS:
        raise GaitCompressError(f"unknown onnxruntime device {device!r}", "use 'cpu' or 'cuda'")
    if device == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
        raise GaitCompressError(
            "onnxruntime here has no CUDAExecutionProvider", "install onnxruntime-gpu on a CUDA machine, or use cpu"
        )
    opts = session_options(threads, optimized_path, level)
    return ort.InferenceSession(
        str(path), opts, providers=PROVIDERS[device], disabled_optimizers=list(disabled_optimizers) or None
    )


def optimized_op_counts(path: str | Path, device: str = "cpu") -> Counter[str]:
    """Operator histogram of the graph onnxruntime actually runs (after its optimiser)."""
    with tempfile.TemporaryDirectory() as tmp:
        optimized = Path(tmp) / "optimized.onnx"
        make_session(path, device, optimized_path=optimized)
        graph = onnx.load(str(optimized))
    return Counter(node.op_type for node in graph.graph.node)


def fused_integer_nodes(path: str | Path, device: str = "cpu") -> dict[str, int]:
    """Count of each integer kernel in the optimised graph, e.g. {'QLinearConv': 19, 'QLinearAdd': 4}."""
    counts = optimized_op_counts(path, device)
    return {op: counts[op] for op in INTEGER_OPS if counts[op]}


def op_profile(path: str | Path, feed: dict, threads: int = 1, runs: int = 10) -> dict[str, float]:
    """Milliseconds per run spent in each operator type of the optimised graph (onnxruntime's profiler).

    Kernel time only (`Node` events, `_kernel_time` suffix), averaged over `runs` calls after one warm-up; what
    the profile attributes to each op type is what a graph pass can hope to remove.
    """
    import json

    with tempfile.TemporaryDirectory() as tmp:
        opts = session_options(threads)
        opts.enable_profiling = True
        opts.profile_file_prefix = str(Path(tmp) / "profile")
        session = ort.InferenceSession(str(path), opts, providers=PROVIDERS["cpu"])
        session.run(None, feed)  # warm-up: allocations, first-touch
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: Counter[str] = Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            per_op[event["args"]["op_name"]] += event["dur"] / 1e3  # µs → ms
    total_runs = runs + 1
    return {op: ms / total_runs for op, ms in per_op.most_common()}


class OnnxGaitModel:
    """An exported graph as a gait model callable: `(sils [N,T,H,W], lengths [N]) -> {'embeddings': ...}`.

    The graph has no `lengths` input (its temporal max runs over every frame), so each row runs on its
    own, cut to its length: the one-sequence-per-row convention. Torch tensors in, torch tensors out,
    so `gaitcompress.evaluation.extract_features` scores it exactly as it scores the PyTorch model.
    """

    def __init__(
        self, path: str | Path, device: str = "cpu", threads: int = 0, disabled_optimizers: Sequence[str] = ()
    ) -> None:
        self.session = make_session(path, device, threads, disabled_optimizers=disabled_optimizers)
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, sils, lengths=None) -> dict:
        import numpy as np
        import torch

        x = sils.detach().cpu().numpy().astype(np.float32)
        rows = []
        for i in range(x.shape[0]):
            t = int(lengths[i]) if lengths is not None else x.shape[1]
            rows.append(self.session.run(None, {"sils": x[i : i + 1, :t]}))
        return {name: torch.from_numpy(np.concatenate([r[k] for r in rows])) for k, name in enumerate(self.outputs)}
