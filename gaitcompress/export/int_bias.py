"""The int32 bias of integer conv kernels, on the PyTorch side: the QAT model as onnxruntime's QLinearConv runs it.

Why: an integer convolution adds its bias to the int32 accumulator, so the bias must sit on the accumulator's
grid, step s_x·s_w[c] (input step × per-channel weight step). onnxruntime rounds a float bias to that grid
before fusing `DQ → Conv → Q` into QLinearConv (its `*_bias_int32` initializers); the `ort` export writes the
same rounding into the graph (`onnx_passes.quantize_conv_bias`). A QAT model keeps BatchNorm unfolded and its
shift in float, so its hard-quant forward differs from the deployed kernel by up to ½·s_x·s_w·|γ/σ| per output —
a few thousandths of an output step, enough to flip about one output in a few hundred by one step, and those
flips compound through the residual stack (measured on the quick SynthGait student: bench/results/export-synthgait.md).

`int32_bias_model(model, sils)` is a copy whose eval forward computes exactly that: for each Conv → BN pair whose
conv reads a per-tensor quantizer's output, with g = γ/√(σ² + ε) and the folded shift b = β − μ·g (+ g·conv bias),
β is moved so that b lands on k·s_x·s_w·|g| with k = round(b / (s_x·s_w·|g|)) — the bias the folded graph holds.
The weights, steps and every other parameter are untouched; the change per channel is at most half a bias step.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

import torch
from torch import Tensor, nn

from gaitcompress.models.hooks import forward_with_hooks


def _is_quantizer(module: nn.Module) -> bool:
    return callable(getattr(module, "qparams", None))


def conv_bn_pairs(model: nn.Module, sils: Tensor) -> list[tuple[str, str, str]]:
    """(conv path, BN path, input quantizer path) for every quantized conv that feeds a BN and reads a quantizer.

    Found by one eval forward with hooks, matching tensors by identity: the quantizer whose output object is the
    conv's input (a `QuantConv2d` with its own `input_quant` quantizes inside, so that one is used directly), and
    the BN whose input object is the conv's output. Works for any wiring, not only GaitBase's.
    """
    names = {m: p for p, m in model.named_modules()}
    produced: dict[int, str] = {}  # id(tensor) → quantizer path
    conv_input: dict[str, str] = {}  # conv path → quantizer path
    conv_output: dict[int, str] = {}  # id(tensor) → conv path
    pairs: list[tuple[str, str, str]] = []
    keep: list[Tensor] = []  # hold every hooked tensor so that no id is reused during the forward

    def on_quant(m, _inp, out):
        keep.append(out)
        produced[id(out)] = names[m]

    def on_conv(m, inp, out):
        keep.extend([inp[0], out])
        own = getattr(m, "input_quant", None)
        source = names[own] if own is not None else produced.get(id(inp[0]))
        if source is not None:
            conv_input[names[m]] = source
            conv_output[id(out)] = names[m]

    def on_bn(m, inp, _out):
        conv = conv_output.get(id(inp[0]))
        if conv is not None:
            pairs.append((conv, names[m], conv_input[conv]))

    hooks = []
    for m in model.modules():
        if _is_quantizer(m) and m.qparams()["axis"] is None:
            hooks.append((m, on_quant))
        elif isinstance(m, nn.Conv2d) and _is_quantizer(getattr(m, "weight_quant", None)):
            hooks.append((m, on_conv))
        elif isinstance(m, nn.BatchNorm2d):
            hooks.append((m, on_bn))
    forward_with_hooks(model, hooks, sils)
    return pairs


@torch.no_grad()
def int32_bias_model(model: nn.Module, sils: Tensor, skip_inputs: Iterable[str] = ()) -> nn.Module:
    """An eval copy of a QAT model whose BN shifts lie on the int32 bias grid of the integer kernels.

    `sils` is any valid input (it only traces the wiring). Convs whose input quantizer is in `skip_inputs` keep a
    float bias (the `ort` export runs the one-channel stem in float: `qdq.float_input_quantizers`).
    """
    model = copy.deepcopy(model).eval()
    skip = set(skip_inputs)
    for conv_path, bn_path, quant_path in conv_bn_pairs(model, sils):
        if quant_path in skip:
            continue
        conv, bn = model.get_submodule(conv_path), model.get_submodule(bn_path)
        s_x = torch.as_tensor(model.get_submodule(quant_path).qparams()["scale"], dtype=torch.float32)
        s_w = torch.as_tensor(conv.weight_quant.qparams()["scale"], dtype=torch.float32)
        gain = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)  # [C]
        shift = bn.bias.double() - bn.running_mean.double() * gain
        if conv.bias is not None:
            shift = shift + conv.bias.double() * gain
        # the folded graph's weight step s_w·|g| (float32, as stored); a zero gain keeps s_w (onnx_passes)
        folded = torch.where(gain == 0, s_w.double(), s_w.double() * gain.abs()).float()
        step = (s_x * folded).double()  # float32 product, as the runtime computes the bias scale
        snapped = torch.round(shift / step) * step
        bn.bias.copy_((bn.bias.double() + snapped - shift).to(bn.bias.dtype))
    return model
