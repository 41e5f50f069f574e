"""OpenVINO IR (`.xml` + `.bin`) of an exported ONNX file: what an Intel CPU deployment loads.

OpenVINO reads the QDQ INT8 graph as it is (each QuantizeLinear/DequantizeLinear pair becomes a FakeQuantize that
its low-precision transformations run as INT8), so the IR is a conversion, not a second quantization: the integer
grids, scales and dynamic batch/frame axes are the ONNX file's. Three exact rewrites first: the `ort` export's uint8
conv weights (zero point 128, for onnxruntime's u8×u8 kernel) go back to int8 with zero point 0
(`onnx_passes.signed_conv_weights`), without which OpenVINO runs those convs in FP32; the temporal max's halving
tree (written for onnxruntime, whose ReduceMax over frames is slow) becomes one integer ReduceMax again
(`onnx_passes.single_frame_reduce`); and a float stem's input rounding becomes the Q/DQ pair it equals
(`onnx_passes.stem_input_qdq`), so OpenVINO runs the stem as an integer conv. Weights are saved uncompressed
(`compress_to_fp16=False`; OpenVINO's default would store FP32 weights as FP16, changing the numbers). The ONNX
file's gaitcompress metadata goes into the IR's `rt_info` under `gaitcompress`, so a device can read the input spec.
OpenVINO is an optional extra (`pip install 'gaitcompress[openvino]'`), imported here only.
"""

from __future__ import annotations

from pathlib import Path

from gaitcompress.errors import GaitCompressError
from gaitcompress.export.onnx_passes import signed_conv_weights, single_frame_reduce, stem_input_qdq


def import_openvino():
    """The `openvino` module, or an error saying which extra installs it."""
    try:
        import openvino
    except ImportError:
        raise GaitCompressError(
            "OpenVINO is not installed", "pip install 'gaitcompress[openvino]' (or drop --openvino)"
        ) from None
    return openvino


def onnx_to_ir(onnx_path: str | Path, xml_path: str | Path | None = None) -> Path:
    """Convert `onnx_path` to `<same stem>.xml` + `.bin` (or `xml_path`), metadata carried over; returns the .xml."""
    import onnx

    ov = import_openvino()
    onnx_path = Path(onnx_path)
    xml = Path(xml_path) if xml_path is not None else onnx_path.with_suffix(".xml")
    graph = onnx.load(str(onnx_path))
    tmp = xml.with_name(f".{xml.stem}.tmp.xml")
    rewritten = tmp.with_suffix(".onnx")
    try:
        source = onnx_path
        if signed_conv_weights(graph) + single_frame_reduce(graph) + stem_input_qdq(graph):
            onnx.save(graph, str(rewritten))
            source = rewritten
        model = ov.convert_model(str(source))
        for prop in graph.metadata_props:
            model.set_rt_info(prop.value, ["gaitcompress", prop.key])
        ov.save_model(model, str(tmp), compress_to_fp16=False)
        tmp.with_suffix(".bin").replace(xml.with_suffix(".bin"))  # .bin first: an .xml always has its weights
        tmp.replace(xml)
    finally:
        for leftover in (tmp, tmp.with_suffix(".bin"), rewritten):
            leftover.unlink(missing_ok=True)
    return xml
