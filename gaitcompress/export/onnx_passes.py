"""ONNX graph rewrites the INT8 export needs after tracing (numpy + onnx only, no torch).

The TorchScript exporter writes a fake-quantized weight as `W(float) → QuantizeLinear → DequantizeLinear`
and, because the convolution's weight is then no longer an initializer, leaves the BatchNormalization
behind it unfolded. Two passes turn that into the standard QDQ form every runtime expects:

- `fold_weight_quantizers`: `QuantizeLinear(initializer)` → an int8 initializer read by the DQ directly
  (the file stores int8 weights; onnxruntime and TensorRT both want `DQ(int8 const) → Conv`).
- `fold_batchnorm`: `DQ(q, s) → Conv → BatchNormalization` → `DQ(q', s') → Conv(+bias)` with, per output
  channel, g = γ/√(σ² + ε), s' = s·|g|, q' = sign(g)·q, b' = (b − μ)·g + β. The integers are unchanged up to
  sign (exact on the signed narrow grid, which is symmetric), so the deployed grid is the trained one.
- `quantize_conv_bias` (`ort` placement): a Conv between DQ'd activations and DQ'd weights gets its float bias as
  `DQ(int32 round(b / (s_x·s_w)), s_x·s_w)`. onnxruntime's optimiser does exactly this before it fuses the
  QLinearConv (its `_bias_int32` initializers), so written out, the unoptimised graph — the float simulation the
  parity probes run — computes what the fused integer kernel computes, bit for bit (see `export/int_bias.py`).

Passes that take what is not compute out of the `ort` INT8 graph (each exact: the outputs are bit-identical):
- `shapes_from_integers`: a Shape that reads a DequantizeLinear output reads its integer input instead (same shape).
  Otherwise onnxruntime keeps one float copy of the tensor per Shape reader (three for layer 4's output).
- `integer_temporal_max`: `DQ → [Reshape] → ReduceMax(frames)` becomes `[Reshape] → max over frames in the integer
  container → DQ` (DQ with a positive scale is non-decreasing, so it commutes with max), the max written as a
  halving tree of elementwise `Max` over two overlapping halves (max is idempotent, so an odd count needs no
  padding) that reads the frame count at run time: any T works, with a final ReduceMax over what is left
  (one frame for T ≤ 2^levels). onnxruntime's ReduceMax over a middle axis is many times slower than `Max`.
- `fold_float_weights`: a weight `DequantizeLinear(int8 constant)` that feeds a Conv onnxruntime runs in float
  (the per-part FC whose output is not re-quantized) becomes the float constant it computes, so it is not
  dequantized again on every run. Weights of convs that fuse into QLinearConv keep their DQ, and so does a float
  stem (one input channel: a few hundred weights, and `stem_input_qdq` needs them as integers).

For OpenVINO (`openvino_ir`), `single_frame_reduce` folds the temporal max's halving tree back into one integer
ReduceMax, which that runtime runs as a single kernel, and `stem_input_qdq` writes a float stem's input rounding as
the Q/DQ pair it equals, so OpenVINO runs the stem as an integer conv (its int8 kernel is fast at one channel).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import onnx
from onnx import helper, numpy_helper


class _Graph:
    """Lookups over one graph: constants (initializers, Constant nodes, Identity of those), producers, consumers."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.graph = model.graph
        self.inits = {t.name: t for t in self.graph.initializer}
        self.producer = {out: node for node in self.graph.node for out in node.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = defaultdict(list)
        for node in self.graph.node:
            for name in node.input:
                self.consumers[name].append(node)

    def const(self, name: str) -> np.ndarray | None:
        if name in self.inits:
            return numpy_helper.to_array(self.inits[name])
        node = self.producer.get(name)
        if node is not None and node.op_type == "Constant":
            return numpy_helper.to_array(next(a.t for a in node.attribute if a.name == "value"))
        if node is not None and node.op_type == "Identity":  # the exporter's de-duplicated initializers
            return self.const(node.input[0])
        return None

    def add_init(self, array: np.ndarray, name: str) -> str:
        self.graph.initializer.append(numpy_helper.from_array(array, name))
        return name


def _attr(node: onnx.NodeProto, name: str, default: int) -> int:
    return next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default)


def _quantize(x: np.ndarray, scale: np.ndarray, zero: np.ndarray, axis: int) -> np.ndarray:
    """numpy QuantizeLinear: saturate(round_half_even(x / scale) + zero) in the zero point's dtype."""
    if scale.ndim == 1 and scale.size > 1:
        shape = [1] * x.ndim
        shape[axis % x.ndim] = -1
        scale, zero = scale.reshape(shape), zero.reshape(shape)
    info = np.iinfo(zero.dtype)
    q = np.rint(x.astype(np.float64) / scale) + zero.astype(np.int64)  # np.rint rounds half to even
    return np.clip(q, info.min, info.max).astype(zero.dtype)


def fold_weight_quantizers(model: onnx.ModelProto) -> int:
    """Replace every `QuantizeLinear` of a constant by its integer result; returns how many were folded."""
    g = _Graph(model)
    folded = []
    for node in g.graph.node:
        if node.op_type != "QuantizeLinear":
            continue
        x, scale, zero = (g.const(n) for n in node.input[:3])
        if x is None or scale is None or zero is None:
            continue
        q = _quantize(x, scale, zero, _attr(node, "axis", 1))
        name = g.add_init(q, node.output[0] + "_int")
        for consumer in g.consumers[node.output[0]]:
            consumer.input[:] = [name if i == node.output[0] else i for i in consumer.input]
        folded.append(node)
    for node in folded:
        g.graph.node.remove(node)
    remove_unused(model)
    return len(folded)


def fold_batchnorm(model: onnx.ModelProto) -> int:
    """Fold each BatchNormalization that directly follows a Conv with a DQ'd per-channel weight.

    Returns how many were folded. Raises when a negative BN gain would flip a −128 weight out of range
    (impossible on the narrow grid `[−127, 127]` that weight quantizers use).
    """
    g = _Graph(model)
    folded = []
    for bn in g.graph.node:
        if bn.op_type != "BatchNormalization":
            continue
        conv = g.producer.get(bn.input[0])
        if conv is None or conv.op_type != "Conv":
            continue
        if len(g.consumers[conv.output[0]]) != 1:
            continue  # the pre-BN value is read elsewhere: folding would change it
        dq = g.producer.get(conv.input[1])
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q, s, zero = (g.const(n) for n in dq.input[:3])
        gamma, beta, mean, var = (g.const(n) for n in bn.input[1:5])
        if any(a is None for a in (q, s, zero, gamma, beta, mean, var)) or np.any(zero != 0):
            continue
        cout = q.shape[0]
        gain = gamma.astype(np.float64) / np.sqrt(var.astype(np.float64) + _attr_f(bn, "epsilon", 1e-5))
        sign = np.where(gain < 0, -1, 1)
        if np.any((sign < 0)[:, None] & (q.reshape(cout, -1) == np.iinfo(q.dtype).min)):
            raise RuntimeError(f"{conv.name}: cannot fold BN with a negative gain into weights at the int8 minimum")
        step = np.broadcast_to(s.astype(np.float64), (cout,)) if s.ndim == 0 else s.astype(np.float64)
        new_step = np.where(gain == 0, step, step * np.abs(gain)).astype(np.float32)  # scales stay > 0
        new_q = (q.astype(np.int32) * sign.reshape((cout,) + (1,) * (q.ndim - 1))).astype(q.dtype)
        new_q[gain == 0] = 0
        bias = g.const(conv.input[2]) if len(conv.input) > 2 else np.zeros(cout, np.float32)
        new_bias = ((bias.astype(np.float64) - mean) * gain + beta).astype(np.float32)

        base = conv.name or conv.output[0]
        zero_c = np.zeros(cout, dtype=q.dtype)
        names = [
            g.add_init(new_q, f"{base}.weight_q"),
            g.add_init(new_step, f"{base}.weight_scale"),
            g.add_init(zero_c, f"{base}.weight_zero"),
        ]
        dq_out = f"{base}.weight_dq"
        g.graph.node.insert(
            list(g.graph.node).index(conv), helper.make_node("DequantizeLinear", names, [dq_out], axis=0)
        )
        conv.input[:] = [conv.input[0], dq_out, g.add_init(new_bias, f"{base}.bias")]
        conv.output[0] = bn.output[0]
        folded.append(bn)
    for bn in folded:
        g.graph.node.remove(bn)
    remove_unused(model)
    return len(folded)


def quantize_conv_bias(model: onnx.ModelProto) -> int:
    """Store the float bias of each QDQ Conv as int32 on the grid s_x·s_w[c] (per output channel); returns how many.

    Only convs whose input and weight both come from a DequantizeLinear with constant scales qualify (the ones an
    integer kernel runs); b_int = round_half_even(b / (s_x·s_w)) in float32 arithmetic, as onnxruntime computes it.
    """
    g = _Graph(model)
    done = 0
    for conv in list(g.graph.node):
        if conv.op_type != "Conv" or len(conv.input) < 3 or g.const(conv.input[2]) is None:
            continue
        dq_x, dq_w = g.producer.get(conv.input[0]), g.producer.get(conv.input[1])
        if dq_x is None or dq_w is None or dq_x.op_type != "DequantizeLinear" or dq_w.op_type != "DequantizeLinear":
            continue
        s_x, s_w = g.const(dq_x.input[1]), g.const(dq_w.input[1])
        if s_x is None or s_w is None or s_x.size != 1:
            continue
        bias = g.const(conv.input[2]).astype(np.float32)
        scale = np.broadcast_to(s_x.astype(np.float32).reshape(()) * s_w.astype(np.float32).reshape(-1), bias.shape)
        q = np.rint((bias / scale).astype(np.float64))  # float32 division, then round half to even
        if np.abs(q).max(initial=0) >= 2**31:
            continue  # cannot be held in int32: leave it float (the runtime keeps that conv in float too)
        base = conv.name or conv.output[0]
        names = [
            g.add_init(q.astype(np.int32), f"{base}.bias_q"),
            g.add_init(scale.astype(np.float32), f"{base}.bias_scale"),
            g.add_init(np.zeros(bias.shape, np.int32), f"{base}.bias_zero"),
        ]
        out = f"{base}.bias_dq"
        g.graph.node.insert(list(g.graph.node).index(conv), helper.make_node("DequantizeLinear", names, [out], axis=0))
        conv.input[2] = out
        done += 1
    remove_unused(model)
    return done


def shapes_from_integers(model: onnx.ModelProto) -> int:
    """Point every Shape that reads a DequantizeLinear output at the DQ's integer input; returns how many."""
    g = _Graph(model)
    moved = 0
    for node in g.graph.node:
        dq = g.producer.get(node.input[0]) if node.op_type == "Shape" else None
        if dq is not None and dq.op_type == "DequantizeLinear":
            node.input[0] = dq.input[0]
            moved += 1
    remove_unused(model)
    return moved


def _reduce_axes(g: _Graph, node: onnx.NodeProto) -> list[int] | None:
    for a in node.attribute:
        if a.name == "axes":
            return list(a.ints)
    return _const_ints(g, node.input[1]) if len(node.input) > 1 and node.input[1] else None


def _const_ints(g: _Graph, name: str) -> list[int] | None:
    """A constant input (axes, starts, …) as a list of ints, or None when it is computed at run time."""
    values = g.const(name)
    return None if values is None else [int(v) for v in values.reshape(-1)]


def integer_temporal_max(model: onnx.ModelProto, levels: int = 8) -> int:
    """Run each frame max (ReduceMax over axis 1 of a dequantized tensor) on the integers; returns how many.

    Per level (see the module docstring): h = ceil(T/2); x = Max(x[:, :h], x[:, T−h:]); T = h. `levels` halvings
    cover 2^levels frames; a closing ReduceMax keeps longer sequences exact.
    """
    g = _Graph(model)
    done = 0
    for red in list(g.graph.node):
        if red.op_type != "ReduceMax" or _reduce_axes(g, red) != [1] or _attr(red, "keepdims", 1) != 0:
            continue
        src = g.producer.get(red.input[0])
        reshape = src if src is not None and src.op_type == "Reshape" else None
        dq = g.producer.get(reshape.input[0]) if reshape is not None else src
        if dq is None or dq.op_type != "DequantizeLinear" or len(g.consumers[dq.output[0]]) != 1:
            continue
        scale = g.const(dq.input[1])
        if scale is None or scale.size != 1 or not np.all(scale > 0):
            continue
        base = red.name or red.output[0]
        consts = {v: g.add_init(np.array([v], np.int64), f"{base}/int/c{v}") for v in (0, 1, 2)}
        nodes, reduced = _frame_max_nodes(dq.input[0], reshape, base, consts, levels, _opset(model))
        nodes.append(helper.make_node("DequantizeLinear", [reduced, *dq.input[1:]], [red.output[0]], name=f"{base}/dq"))
        at = list(g.graph.node).index(red)
        g.graph.node.remove(red)
        for i, node in enumerate(nodes):
            g.graph.node.insert(at + i, node)
        done += 1
    remove_unused(model)
    return done


def _requantized(g: _Graph, name: str, hops: int = 2) -> bool:
    """Whether a QuantizeLinear reads `name`, directly or through up to `hops` Relu / Clip nodes."""
    return any(
        r.op_type == "QuantizeLinear"
        or (hops > 0 and r.op_type in ("Relu", "Clip") and _requantized(g, r.output[0], hops - 1))
        for r in g.consumers[name]
    )


def _frame_max_nodes(
    x: str, reshape: onnx.NodeProto | None, base: str, c: dict[int, str], levels: int, opset: int
) -> tuple[list[onnx.NodeProto], str]:
    """Nodes computing max over axis 1 of `x` (after `reshape`'s target shape, if any); returns them and the output."""
    nodes: list[onnx.NodeProto] = []

    def add(op: str, inputs: list[str], tag: str, **attrs: object) -> str:
        out = f"{base}/int/{tag}"
        nodes.append(helper.make_node(op, inputs, [out], name=out, **attrs))
        return out

    if reshape is not None:
        x = add("Reshape", [x, reshape.input[1]], "reshape")  # [N·T, C, H, W] → [N, T, C, H, W], still integer
    t = add("Gather", [add("Shape", [x], "shape"), c[1]], "frames", axis=0)  # [1] int64: T
    for level in range(levels):
        half = add("Div", [add("Add", [t, c[1]], f"l{level}/t+1"), c[2]], f"l{level}/half")  # ceil(T/2)
        first = add("Slice", [x, c[0], half, c[1]], f"l{level}/first")  # frames [0, h)
        second = add("Slice", [x, add("Sub", [t, half], f"l{level}/start"), t, c[1]], f"l{level}/second")  # [T−h, T)
        x, t = add("Max", [first, second], f"l{level}/max"), half
    if opset >= 18:
        return nodes, add("ReduceMax", [x, c[1]], "rest", keepdims=0)
    return nodes, add("ReduceMax", [x], "rest", keepdims=0, axes=[1])


def single_frame_reduce(model: onnx.ModelProto) -> int:
    """Fold each halving tree of `integer_temporal_max` back into one ReduceMax over the integers; returns how many.

    For runtimes whose ReduceMax over frames is fast (OpenVINO runs it as one int8 kernel): there the tree's
    dynamic Slice/Max chain costs more than it saves (measured at 64×44 × 30 frames, one thread, VNNI: the quick
    student's IR 9 % slower than NNCF's with the tree, 1 % faster without). The max still runs on the integer
    container before the DequantizeLinear, so the values are the tree's (max over all frames), bit for bit.
    """
    g = _Graph(model)
    done = 0
    for red in list(g.graph.node):
        if red.op_type != "ReduceMax" or _reduce_axes(g, red) != [1]:
            continue
        root, x = None, red.input[0]
        while (node := g.producer.get(x)) is not None and node.op_type == "Max" and len(node.input) == 2:
            a, b = (g.producer.get(i) for i in node.input)
            halves = [n for n in (a, b) if n is not None and n.op_type == "Slice" and len(n.input) > 3]
            if len(halves) != 2 or a.input[0] != b.input[0] or any(_const_ints(g, n.input[3]) != [1] for n in halves):
                break
            x = root = a.input[0]
        if root is not None:
            red.input[0] = root  # the tree's two halves cover every frame at each level: one max over all
            done += 1
    remove_unused(model)
    return done


def stem_input_qdq(model: onnx.ModelProto) -> int:
    """Rewrite each float input rounding `Div(v) → Round → Clip(0, 255) → Mul(v)` as `QuantizeLinear → DQ`; how many.

    The `ort` export writes a narrow stem's input quantizer as float ops so onnxruntime keeps that conv in float
    (`qdq.float_input_quantizers`). The pair computes the same values: QuantizeLinear rounds half to even as Round
    does and saturates to [0, 255] as the Clip does. Only the full 8-bit unsigned grid is rewritten (a narrower
    grid would need its Clip kept between the pair).
    """
    g = _Graph(model)
    done = 0
    for div in list(g.graph.node):
        if div.op_type != "Div":
            continue
        chain = [div]
        for op in ("Round", "Clip", "Mul"):
            users = g.consumers[chain[-1].output[0]]
            if len(users) != 1 or users[0].op_type != op:
                break
            chain.append(users[0])
        if len(chain) != 4:
            continue
        _, _, clip, mul = chain
        v, w = g.const(div.input[1]), g.const(mul.input[1])
        bounds = [g.const(name) for name in clip.input[1:3]]
        if v is None or w is None or v.size != 1 or not np.array_equal(v, w) or not float(v) > 0:
            continue
        if len(bounds) != 2 or any(b is None for b in bounds) or [float(b) for b in bounds] != [0.0, 255.0]:
            continue
        base = div.name or div.output[0]
        scale = g.add_init(np.asarray(v, np.float32).reshape(()), f"{base}/qdq/scale")
        zero = g.add_init(np.array(0, np.uint8), f"{base}/qdq/zero")
        at = list(g.graph.node).index(div)
        quant = helper.make_node("QuantizeLinear", [div.input[0], scale, zero], [f"{base}/qdq/q"], name=f"{base}/q")
        dequant = helper.make_node(
            "DequantizeLinear", [f"{base}/qdq/q", scale, zero], [mul.output[0]], name=f"{base}/dq"
        )
        for node in chain:
            g.graph.node.remove(node)
        g.graph.node.insert(at, quant)
        g.graph.node.insert(at + 1, dequant)
        done += 1
    remove_unused(model)
    return done


def fold_float_weights(model: onnx.ModelProto) -> int:
    """Store as float the DQ'd constant weight of each Conv that will not fuse into QLinearConv; returns how many.

    A Conv fuses when its input comes from a DequantizeLinear and its output is re-quantized (a QuantizeLinear
    reads it, directly or after a Relu; after a 4-bit grid's Clip too, which onnxruntime does not fuse but other
    runtimes may, so those keep their int8 weights); any other Conv with a `DQ(constant)` weight runs in float,
    and the float32 product (q − z)·s is stored instead (the value onnxruntime computes each run, bit for bit).
    """
    g = _Graph(model)
    done = 0
    for conv in list(g.graph.node):
        if conv.op_type != "Conv":
            continue
        dq_x, dq_w = g.producer.get(conv.input[0]), g.producer.get(conv.input[1])
        requantized = _requantized(g, conv.output[0])
        fuses = getattr(dq_x, "op_type", "") == "DequantizeLinear" and requantized
        if fuses or dq_w is None or dq_w.op_type != "DequantizeLinear":
            continue
        q, s = g.const(dq_w.input[0]), g.const(dq_w.input[1])
        zero = g.const(dq_w.input[2]) if len(dq_w.input) > 2 and dq_w.input[2] else np.zeros((), q.dtype)
        if q is None or s is None or zero is None or q.shape[1] == 1:
            continue  # a one-channel stem's few weights stay int8: OpenVINO runs it as an integer conv from them
        shape = [-1] + [1] * (q.ndim - 1) if s.size > 1 else []
        s, zero = s.astype(np.float32).reshape(shape), zero.astype(np.int32).reshape(shape)
        weight = ((q.astype(np.int32) - zero).astype(np.float32) * s).astype(np.float32)
        conv.input[1] = g.add_init(weight, f"{conv.name or conv.output[0]}.weight_float")
        done += 1
    remove_unused(model)
    return done


def unsigned_conv_weights(model: onnx.ModelProto) -> int:
    """Store each int8 conv weight as uint8 with zero point 128; returns how many.

    onnxruntime's u8×s8 integer conv on x86 CPUs without VNNI (AVX2, AVX-512 before VNNI) adds pairs of u8·s8
    products in int16 and saturates: measured on an AMD EPYC with AVX2 only, 1.6% of the values entering
    `layer1.0.conv2` were off by up to 26 quantization steps and rank-1 moved by 0.83 points. Its u8×u8 kernel
    widens to 16 bits first and cannot saturate. The value is the same — (w + 128) − 128 = w, one zero point for
    every channel as QLinearConv requires — so the graph computes exactly what the int8 one meant to.
    """
    g = _Graph(model)
    done = 0
    for conv in list(g.graph.node):
        if conv.op_type != "Conv":
            continue
        dq = g.producer.get(conv.input[1])
        if dq is None or dq.op_type != "DequantizeLinear" or len(dq.input) < 3:
            continue
        q, zero = g.const(dq.input[0]), g.const(dq.input[2])
        if q is None or zero is None or q.dtype != np.int8 or zero.any():
            continue
        stem = conv.name or conv.output[0]
        shifted = (q.astype(np.int16) + 128).astype(np.uint8)
        dq.input[0] = g.add_init(shifted, f"{stem}.weight_u8")
        dq.input[2] = g.add_init(np.full(zero.shape, 128, np.uint8), f"{stem}.weight_zero_u8")
        done += 1
    remove_unused(model)
    return done


def signed_conv_weights(model: onnx.ModelProto) -> int:
    """Undo `unsigned_conv_weights`: uint8 conv weights with zero point 128 back to int8 with zero 0; how many.

    For OpenVINO, whose CPU plugin runs a conv as INT8 only with a zero weight zero point: it dequantizes the uint8
    weights to float and runs the conv in FP32 (measured on an AVX2 EPYC: the quick student 2.4× slower than with
    int8 weights). The values are the same ((w + 128) − 128 = w), so this is exact, as the pass it undoes.
    """
    g = _Graph(model)
    done = 0
    for conv in list(g.graph.node):
        dq = g.producer.get(conv.input[1]) if conv.op_type == "Conv" else None
        if dq is None or dq.op_type != "DequantizeLinear" or len(dq.input) < 3:
            continue
        q, zero = g.const(dq.input[0]), g.const(dq.input[2])
        if q is None or zero is None or q.dtype != np.uint8 or np.any(zero != 128):
            continue
        stem = conv.name or conv.output[0]
        dq.input[0] = g.add_init((q.astype(np.int16) - 128).astype(np.int8), f"{stem}.weight_s8")
        dq.input[2] = g.add_init(np.zeros(zero.shape, np.int8), f"{stem}.weight_zero_s8")
        done += 1
    remove_unused(model)
    return done


# the `ort` placement's clean-up passes, in the order they run (each needs the ones before it to find its pattern)
DEPLOY_PASSES = {
    "shapes": shapes_from_integers,
    "temporal_max": integer_temporal_max,
    "float_weights": fold_float_weights,
    "unsigned_weights": unsigned_conv_weights,
}


def _opset(model: onnx.ModelProto) -> int:
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def constants_to_initializers(model: onnx.ModelProto) -> int:
    """Turn tensor-valued Constant nodes into initializers (scales and zero points become named data)."""
    graph = model.graph
    moved = [n for n in graph.node if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value"]
    for node in moved:
        tensor = onnx.TensorProto()
        tensor.CopyFrom(node.attribute[0].t)
        tensor.name = node.output[0]
        graph.initializer.append(tensor)
        graph.node.remove(node)
    return len(moved)


def _attr_f(node: onnx.NodeProto, name: str, default: float) -> float:
    return float(next((helper.get_attribute_value(a) for a in node.attribute if a.name == name), default))


def remove_unused(model: onnx.ModelProto) -> None:
    """Drop nodes nobody reads (to a fixed point), then unread initializers and stale value_info."""
    graph = model.graph
    outputs = {o.name for o in graph.output}
    while True:
        used = {i for node in graph.node for i in node.input} | outputs
        dead = [n for n in graph.node if not any(o in used for o in n.output)]
        for node in dead:
            graph.node.remove(node)
        if not dead:
            break
    used = {i for node in graph.node for i in node.input}
    for init in [t for t in graph.initializer if t.name not in used]:
        graph.initializer.remove(init)
    live = used | outputs | {o for node in graph.node for o in node.output}
    for info in [v for v in graph.value_info if v.name not in live]:
        graph.value_info.remove(info)
