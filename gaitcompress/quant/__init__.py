"""QGait quantization-aware training: quantizers, model preparation, two-stage QAT, and the PTQ baseline.

Modules: `functional` (round / STE / soft round θ_k), `quantizers` (LSQ, fixed, DoReFa, PACT), `layers` (quant layers
= float layer + quantizer sub-modules), `prepare` (`QConfig`, `quantize_model`), `schedule` (soft-k schedules),
`qat` (the `quantize` stage), `cost` (bit widths and BitOPs), `qmodel` (the `qat` checkpoint kind). The PTQ
baseline quantizes an exported graph, so it lives in `gaitcompress.export.ptq`.

The `qparams()` contract (what `gaitcompress.export` reads)
-----------------------------------------------------------
Every quantizer (`gaitcompress.quant.quantizers.Quantizer`) maps a float tensor x to x̂ = scale · q with integer
q ∈ [qmin, qmax] and zero point 0; in eval mode it always rounds half to even (as ONNX QuantizeLinear does).
`quantizer.qparams()` returns::

    {'scale': Tensor float32,  # 0-d (per tensor) or 1-D [C] (per channel along `axis`), strictly positive
     'zero_point': 0,          # always 0 (symmetric, or unsigned starting at 0)
     'bits': int,              # 2..8 (w4a4 uses 4: export it as INT8 Q/DQ holding a 4-bit grid, DESIGN §10)
     'signed': bool,           # False: q ∈ [0, 2^b − 1] (post-ReLU activations, the stem input)
     'narrow': bool,           # True: q ∈ [−(2^(b−1) − 1), 2^(b−1) − 1] (weights)
     'axis': int | None,       # channel axis of the tensor the quantizer sees, None = per tensor
     'qmin': int, 'qmax': int} # the integer range actually used (clip bounds for Q/DQ or Clip nodes)

Rules for exporters:
- A weight's integers are `quantizer.integers(weight)` (int32, exact), not `round(weight / scale)`: the DoReFa
  and PACT baselines transform weights (tanh normalisation) before rounding. For LSQ both agree.
- `QuantSeparateFCs` quantizes its weight in the grouped-1×1-conv layout `fc_bin.permute(0, 2, 1).reshape(P·Cout,
  Cin)` (use `layer.grouped_weight()`), so its `axis` 0 has P·Cout channels.
- Where each quantizer sits: `QuantConv2d/QuantLinear/QuantSeparateFCs.input_quant` on the layer input (None where
  the enclosing block's `input_quant` already quantizes that tensor), `.weight_quant` on the weight; a quantized
  `BasicBlock`'s `input_quant` (block input x: conv1, downsample conv and identity) and `.output_quant` (relu(add),
  `ort` only); its `downsample.2` (the quantizer ending the downsample branch: the Add's residual input) and
  `add.main_quant` (`QuantAdd`: bn2 output, `ort` only).
  See `gaitcompress.quant.prepare` for the placement rules, `quantizers(model)` to list them all.
- Containers: signed grids fit int8; unsigned grids are uint8 at 8 bits (only in the `ort` placement) and fit int8
  below 8 bits (w4a4's [0, 15]). A `trt` model has no unsigned 8-bit quantizer, so it exports as pure int8.
  Sub-8-bit grids export as INT8 Q/DQ with the same scale plus a clip to [qmin·scale, qmax·scale] for activations
  (DESIGN §10); weights are pre-rounded, so their integers already lie in [qmin, qmax].
"""

from gaitcompress.checkpoints import load_model  # importing it from here guarantees the `qat` kind is registered
from gaitcompress.quant.prepare import PRESETS, QConfig, quantize_model, quantizers, set_mode
from gaitcompress.quant.qmodel import load_quantized, save_quantized
from gaitcompress.quant.quantizers import (
    QUANTIZERS,
    DorefaQuantizer,
    FixedQuantizer,
    LsqQuantizer,
    PactQuantizer,
    Quantizer,
)

__all__ = [
    "PRESETS",
    "QUANTIZERS",
    "DorefaQuantizer",
    "FixedQuantizer",
    "LsqQuantizer",
    "PactQuantizer",
    "QConfig",
    "Quantizer",
    "load_model",
    "load_quantized",
    "quantize_model",
    "quantizers",
    "save_quantized",
    "set_mode",
]
