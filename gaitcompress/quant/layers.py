"""Quantized layers: the float layer plus quantizer sub-modules (Brevitas style), so float state-dict keys survive.

`QuantConv2d`, `QuantLinear` and `QuantSeparateFCs` add `weight_quant` and (optionally) `input_quant` to the float
layer's own parameters; `QuantBasicBlock` wraps a ResNet BasicBlock's existing sub-modules and adds the quantizers of
the residual Add. Every `from_float` copies the float module's parameters and buffers; the input is never mutated.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from gaitcompress.models.layers.separate_fcs import SeparateFCs
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


class QuantBasicBlock(nn.Module):
    """A ResNet BasicBlock re-stated with the residual Add's quantizers, holding the float block's own sub-modules.

    `gaitcompress.models.gaitbase.BasicBlock` computes `relu(bn2(conv2(relu1(bn1(conv1(x))))) + shortcut(x))` with
    the Add inline, where no hook can reach it; this wrapper re-states that forward over the *same* sub-modules
    (same names, so state-dict keys and distillation taps such as `layer3.0.relu` are unchanged) and adds:

    - `input_quant` on the block input x, shared by conv1, the downsample conv and the identity branch
      (one quantizer per tensor, so an exporter puts one Q/DQ pair on x);
    - `residual_quant` on the downsample output (the residual branch of the Add), when there is a downsample;
    - `ort` placement only: `main_quant` on bn2's output (signed; the Add's other input) and `output_quant` on the
      block output relu(add) (unsigned), so onnxruntime can fuse QLinearAdd; a following block then needs no
      `input_quant` (quantize_model leaves it `None`).
    `conv1` and the downsample conv carry no `input_quant` of their own; `conv2.input_quant` quantizes relu1's output.
    With every quantizer removed it computes exactly the float block (checked by `tests/test_quant_prepare.py`).
    """

    CHILDREN = ("conv1", "bn1", "relu1", "conv2", "bn2", "downsample", "relu")

    def __init__(
        self,
        block: nn.Module,
        input_quant: Quantizer | None,
        residual_quant: Quantizer | None,
        main_quant: Quantizer | None = None,
        output_quant: Quantizer | None = None,
    ) -> None:
        super().__init__()
        for name in self.CHILDREN:
            setattr(self, name, getattr(block, name))
        self.input_quant = input_quant
        self.residual_quant = residual_quant
        self.main_quant = main_quant
        self.output_quant = output_quant

    @classmethod
    def matches(cls, module: nn.Module) -> bool:
        """Whether `module` is a BasicBlock with exactly the structure this wrapper re-states."""
        return type(module).__name__ == "BasicBlock" and all(hasattr(module, n) for n in cls.CHILDREN)

    def forward(self, x: Tensor) -> Tensor:
        x = _maybe(self.input_quant, x)
        shortcut = x if self.downsample is None else _maybe(self.residual_quant, self.downsample(x))
        out = self.relu1(self.bn1(self.conv1(x)))
        out = _maybe(self.main_quant, self.bn2(self.conv2(out)))
        return _maybe(self.output_quant, self.relu(out + shortcut))
