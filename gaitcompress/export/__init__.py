"""Export and deployment (DESIGN §9 BitOPs, §10): what a device runs, and what it costs.

Modules (import them directly; this package imports nothing, so `tensorrt_builder` stays torch-free):
- `onnx_export`  FP32/FP16 ONNX of any gait model: dynamic batch/frame axes, BN folded, metadata, atomic + validated.
- `qdq`          INT8 QDQ of a QAT model (`trt` / `ort` placements, w4 grids in int8 containers).
- `onnx_passes`  graph rewrites after tracing: int8 weight initializers, BN folded into per-channel weight scales.
- `runtime`      onnxruntime sessions (CPU/CUDA), fused integer kernel counts, the graph as a gait model callable.
- `parity`       PyTorch vs ONNX: per-tensor probes (where a gap starts) and test-set rank-1 side by side.
- `bitops`       per-layer/total MACs, BitOPs (QGait), params, bytes.
- `tensorrt_builder`  TensorRT 10/11 engine builder (also `export/build_trt_engine.py`; no torch).
- `stage`        `export_checkpoint`: the `gaitcompress export` stage.  `report`: the recorded must-show table.
"""
