"""Quantized layers: the float layer plus quantizer sub-modules (Brevitas style), so float state-dict keys survive.

`QuantConv2d`, `QuantLinear` and `QuantSeparateFCs` add `weight_quant` and (optionally) `input_quant` to the float
layer's own parameters; `QuantAdd` is the residual `Add` module with its main input quantized, and `quantize_io` adds a
block's input/output quantizers through hooks, so a quantized residual block runs the
float block's own forward.
Every `from_float` copies the float module's parameters and buffers; the input is never mutated.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.models.layers import Add, SeparateFCs
from gaitcompress.quant.quantizers import Quantizer


def _maybe(q: Quantizer | None, x: Tensor) -> Tensor:
    return x if q is None else q(x)


class QuantConv2d(nn.Conv2d):
    """`nn.Conv2d` whose input (when `input_quant` is set) and weight are fake-quantized: y = conv(Q_a(x), Q_w(W)) + b.

    Weights are quantized per output channel (`weight_quant.channel_axis == 0`, signed narrow).
    """

    weight_quant: Quantizer
    input_quant: Quantizer | None

    @classmethod
    def from_float(cls, conv: nn.Conv2d, weight_quant: Quantizer, input_quant: Quantizer | None) -> QuantConv2d:
        q = cls(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            dilation=conv.dilation,
            groups=conv.groups,
            bias=conv.bias is not None,
            padding_mode=conv.padding_mode,
            device=conv.weight.device,
            dtype=conv.weight.dtype,
        )
        q.load_state_dict(conv.state_dict())  # copies: the float conv is left as it was
        q.train(conv.training)
        q.weight_quant = weight_quant
        q.input_quant = input_quant
        return q

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(_maybe(self.input_quant, x), self.weight_quant(self.weight), self.bias)


class QuantLinear(nn.Linear):
    """`nn.Linear` with fake-quantized input and per-output-channel weights (axis 0 of `[Cout, Cin]`)."""

    weight_quant: Quantizer
    input_quant: Quantizer | None

    @classmethod
    def from_float(cls, linear: nn.Linear, weight_quant: Quantizer, input_quant: Quantizer | None) -> QuantLinear:
        q = cls(
            linear.in_features,
            linear.out_features,
            bias=linear.bias is not None,
            device=linear.weight.device,
            dtype=linear.weight.dtype,
        )
        q.load_state_dict(linear.state_dict())
        q.train(linear.training)
        q.weight_quant = weight_quant
        q.input_quant = input_quant
        return q

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(_maybe(self.input_quant, x), self.weight_quant(self.weight), self.bias)


class QuantSeparateFCs(SeparateFCs):
    """Per-part FC `[N, Cin, P] → [N, Cout, P]` with fake-quantized input and weights.

    The weight is quantized in its grouped-1×1-conv layout `W_g = fc_bin.permute(0, 2, 1).reshape(P·Cout, Cin)`
    (row p·Cout + o = output channel o of part p), per output channel along axis 0 — exactly the weight of the
    equivalent `Conv1d(P·Cin, P·Cout, 1, groups=P)`, which is how exporters build it. `weight_quant` therefore has
    P·Cout steps, and `qparams()['axis'] == 0` refers to that layout.
    """

    weight_quant: Quantizer
    input_quant: Quantizer | None

    @classmethod
    def from_float(cls, fc: SeparateFCs, weight_quant: Quantizer, input_quant: Quantizer | None) -> QuantSeparateFCs:
        q = cls(fc.parts, fc.in_channels, fc.out_channels)
        q.load_state_dict(fc.state_dict())
        q.to(fc.fc_bin.device)
        q.train(fc.training)
        q.weight_quant = weight_quant
        q.input_quant = input_quant
        return q

    def grouped_weight(self) -> Tensor:
        """`fc_bin [P, Cin, Cout]` → grouped-conv layout `[P·Cout, Cin]`."""
        p, cin, cout = self.fc_bin.shape
        return self.fc_bin.permute(0, 2, 1).reshape(p * cout, cin)  # [P, Cout, Cin] → [P·Cout, Cin]

    def quantized_weight(self) -> Tensor:
        """Fake-quantized `fc_bin`, back in `[P, Cin, Cout]`."""
        p, cin, cout = self.fc_bin.shape
        wq = self.weight_quant(self.grouped_weight())  # [P·Cout, Cin]
        return wq.reshape(p, cout, cin).permute(0, 2, 1)  # [P, Cin, Cout]

    def forward(self, x: Tensor) -> Tensor:
        x = _maybe(self.input_quant, x).permute(2, 0, 1)  # [N, Cin, P] → [P, N, Cin]
        out = x.matmul(self.quantized_weight())  # [P, N, Cin] @ [P, Cin, Cout] → [P, N, Cout]
        return out.permute(1, 2, 0).contiguous()  # [N, Cout, P]


class QuantAdd(Add):
    """The residual `Add` with its main input fake-quantized: `Q_main(main) + residual`.

    `main_quant` (`ort` placement only) quantizes bn2's output, so onnxruntime can fuse QLinearAdd. The residual
    input is quantized where it is made: by the block's `input_quant` (identity branch) or by the quantizer that
    ends the downsample branch (`downsample.2`), so it is quantized once, in the order the float block computes it.
    """

    main_quant: Quantizer | None

    @classmethod
    def from_float(cls, add: Add, main_quant: Quantizer | None) -> QuantAdd:
        q = cls()
        q.train(add.training)
        q.main_quant = main_quant
        return q

    def forward(self, main: Tensor, residual: Tensor) -> Tensor:
        return _maybe(self.main_quant, main) + residual


def quantize_io(module: nn.Module, input_quant: Quantizer | None, output_quant: Quantizer | None) -> nn.Module:
    """Quantize a module's input and/or output without touching its forward (hooks; the quantizers as children).

    For a residual block, `input_quant` quantizes the block input x once for conv1, the downsample conv and the
    identity branch (one quantizer per tensor, so an exporter puts one Q/DQ pair on x) and `output_quant` (`ort`
    only) its output relu(add), so the next block needs no `input_quant`. The quantizers are the module's children
    `input_quant` / `output_quant`, so their state-dict keys sit beside the module's own.
    """
    module.input_quant = input_quant
    module.output_quant = output_quant
    if input_quant is not None:
        module.register_forward_pre_hook(_quantize_input)
    if output_quant is not None:
        module.register_forward_hook(_quantize_output)
    return module


def _quantize_input(module: nn.Module, args: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
    return (_maybe(module.input_quant, args[0]), *args[1:])


def _quantize_output(module: nn.Module, args: tuple[Tensor, ...], out: Tensor) -> Tensor:
    return _maybe(module.output_quant, out)
