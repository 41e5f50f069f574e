"""Fake quantizers: LSQ (QGait's base quantizer), a fixed-step input quantizer, and the DoReFa / PACT baselines.

Each quantizer is an `nn.Module` mapping a float tensor to `scale · q` with integer `q ∈ [qmin, qmax]` (zero point
0), and answers `qparams()` — the contract the exporter reads (see `gaitcompress.quant` docstring). Quantizer maths
always run in FP32, also under autocast. The rounding is chosen by `mode` while training (`'ste'`, `'soft'`,
`'hard'`) and is always the hard round half to even in eval mode: that is what deploys.

Ranges (QGait §3.1, DESIGN §9): unsigned `[0, 2^b − 1]`; signed `[−2^(b−1), 2^(b−1) − 1]`; signed narrow
`[−(2^(b−1) − 1), 2^(b−1) − 1]` (weights: `[−127, 127]`, `[−7, 7]`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from gaitcompress.quant.functional import grad_scale, round_mode
from gaitcompress.registry import Registry

QUANTIZERS: Registry[Quantizer] = Registry("quantizer")

MODES = ("ste", "soft", "softgrad", "hard")
INITS = ("lsq", "mse")


def int_range(bits: int, signed: bool, narrow: bool) -> tuple[int, int]:
    """(qmin, qmax) of a `bits`-wide integer grid."""
    if bits < 2 or bits > 16:
        raise ValueError(f"bits must be in [2, 16], got {bits}")
    if not signed:
        return 0, 2**bits - 1
    qmax = 2 ** (bits - 1) - 1
    return (-qmax if narrow else -qmax - 1), qmax


class Quantizer(nn.Module):
    """Shared state of every fake quantizer: the integer grid, the rounding mode and the soft-round k.

    `soft_k` is a buffer so that it is saved with the checkpoint; `mode` is set by the training stage
    (`set_mode`) and does not matter in eval, which always rounds hard.
    """

    def __init__(self, bits: int, signed: bool, narrow: bool = False, channel_axis: int | None = None) -> None:
        super().__init__()
        self.bits, self.signed, self.narrow, self.channel_axis = int(bits), bool(signed), bool(narrow), channel_axis
        self.qmin, self.qmax = int_range(self.bits, self.signed, self.narrow)
        self.mode = "ste"
        self.register_buffer("soft_k", torch.tensor(1.0))

    # --- what subclasses provide -------------------------------------------------------------------------------
    def scale(self) -> Tensor:
        """Step size(s): a 0-d tensor (per tensor) or `[C]` (per channel along `channel_axis`)."""
        raise NotImplementedError

    # --- shared ------------------------------------------------------------------------------------------------
    def _rounding(self) -> str:
        return self.mode if self.training else "hard"

    def _view(self, s: Tensor, x: Tensor) -> Tensor:
        """Reshape per-channel steps `[C]` to broadcast against `x` along `channel_axis`."""
        if self.channel_axis is None:
            return s.reshape(())
        shape = [1] * x.dim()
        shape[self.channel_axis] = -1
        return s.reshape(shape)

    def qparams(self) -> dict[str, Any]:
        """What export reads to build Q/DQ nodes (contract in the `gaitcompress.quant` docstring)."""
        scale = self.scale().detach().float().clone()
        return {
            "scale": scale.reshape(()) if self.channel_axis is None else scale.reshape(-1),
            "zero_point": 0,
            "bits": self.bits,
            "signed": self.signed,
            "narrow": self.narrow,
            "axis": self.channel_axis,
            "qmin": self.qmin,
            "qmax": self.qmax,
        }

    @torch.no_grad()
    def integers(self, x: Tensor) -> Tensor:
        """The integer grid values `q` (as int32) that the eval forward produces for `x` (`forward(x) = q·scale`)."""
        was = self.training
        self.eval()
        try:
            y = self(x).float()
        finally:
            self.train(was)
        return torch.round(y / self._view(self.scale().float(), y)).to(torch.int32)

    def set_mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown quantizer mode {mode!r}; use one of {MODES}")
        self.mode = mode

    def set_k(self, k: float) -> None:
        self.soft_k.fill_(float(k))

    def extra_repr(self) -> str:
        axis = "per-tensor" if self.channel_axis is None else f"axis={self.channel_axis}"
        sign = "signed" + (" narrow" if self.narrow else "") if self.signed else "unsigned"
        return f"bits={self.bits}, {sign} [{self.qmin}, {self.qmax}], {axis}, mode={self.mode}"


@QUANTIZERS.register("lsq")
class LsqQuantizer(Quantizer):
    """LSQ (Esser et al. 2020) as QGait uses it: x̄ = round(clamp(x/v, r1, r2)), x̂ = x̄·v with a learned step v.

    - v's gradient is scaled by g = 1/√(N·Qp), N = elements sharing one step (per channel: numel/C).
    - v is initialised on the first forward (`initialized` records it), per channel for weights, by `init`:
      `lsq`: 2·mean|x|/√Qp (the LSQ paper's rule, the default); `mse`: the step among {LSQ's, max|x|/Qp · c for
      c ∈ 1.0, 0.9, …, 0.3} with the least quantization MSE on that tensor. At 8 bits the LSQ rule gives a step
      ≈ 6× coarser than the tensor's range needs (measured on the quick student: 4 % weight error, grids 8–30 %
      used), which a short QAT cannot undo; `mse` starts from a PTQ-quality grid.
    - v is kept positive by using |v| (clamped at 1e-8) in the forward; exclude `step` from weight decay
      (`gaitcompress.quant.no_weight_decay_names`).
    Gradient w.r.t. x: 1 inside the clamp range, 0 outside (STE), or ∂θ_k/∂x inside the range in `soft` mode.
    """

    def __init__(
        self,
        bits: int,
        signed: bool,
        channel_axis: int | None = None,
        narrow: bool = False,
        channels: int = 1,
        init: str = "lsq",
    ) -> None:
        super().__init__(bits, signed, narrow, channel_axis)
        if channel_axis is None and channels != 1:
            raise ValueError("a per-tensor quantizer has one step (channels=1)")
        if init not in INITS:
            raise ValueError(f"unknown LSQ init {init!r}; use one of {INITS}")
        self.init = init
        self.step = nn.Parameter(torch.ones(channels))
        self.register_buffer("initialized", torch.tensor(False))

    def scale(self) -> Tensor:
        return self.step.abs().clamp_min(1e-8)

    def no_weight_decay(self) -> set[str]:
        return {"step"}

    @torch.no_grad()
    def _init_step(self, x: Tensor) -> None:
        if self.channel_axis is None:
            mean_abs = x.abs().mean().reshape(1)
        else:
            dims = [d for d in range(x.dim()) if d != self.channel_axis % x.dim()]
            mean_abs = x.abs().mean(dim=dims)
        if mean_abs.numel() != self.step.numel():
            raise ValueError(f"LSQ quantizer has {self.step.numel()} steps but the tensor has {mean_abs.numel()}")
        # an all-zero channel would give v = 0: fall back to the tensor's mean so the step stays positive
        fallback = x.abs().mean().clamp_min(1e-4)
        mean_abs = torch.where(mean_abs > 0, mean_abs, fallback)
        step = 2 * mean_abs / math.sqrt(self.qmax)
        if self.init == "mse":
            step = self._mse_step(x, step)
        self.step.copy_(step)
        self.initialized.fill_(True)

    def _mse_step(self, x: Tensor, lsq_step: Tensor) -> Tensor:
        """Per step, the candidate (LSQ's, or a fraction of max|x|/Qp) with the least quantization MSE."""
        if self.channel_axis is None:
            rows = x.reshape(1, -1)  # [1, numel]
        else:
            rows = x.movedim(self.channel_axis % x.dim(), 0).reshape(self.step.numel(), -1)  # [C, numel/C]
        top = rows.abs().amax(1).clamp_min(1e-8) / self.qmax  # [C] MinMax step
        cands = torch.stack([lsq_step] + [top * c for c in (1.0, 0.9, 0.8, 0.7, 0.6, 0.5, 0.4, 0.3)])  # [K, C]
        errs = torch.stack(
            [
                ((torch.round(torch.clamp(rows / s[:, None], self.qmin, self.qmax)) * s[:, None] - rows) ** 2).mean(1)
                for s in cands
            ]
        )  # [K, C]
        return cands.gather(0, errs.argmin(0, keepdim=True)).squeeze(0)

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.float()
            if not bool(self.initialized):
                self._init_step(xf.detach())
            n = xf.numel() / self.step.numel()
            v = self._view(grad_scale(self.scale(), 1.0 / math.sqrt(n * self.qmax)), xf)
            q = round_mode(torch.clamp(xf / v, self.qmin, self.qmax), self._rounding(), float(self.soft_k))
            return (q * v).to(x.dtype)


@QUANTIZERS.register("fixed")
class FixedQuantizer(Quantizer):
    """A per-tensor quantizer with a constant step (not learned).

    Used for the stem input: binary-ish silhouettes in [0, 1] with unsigned `bits` and step 1/(2^b − 1), so 0 and 1
    are exact grid points (q = 0 and q = qmax); at 8 bits the grid is exactly the uint8/255 levels the data come in.
    """

    def __init__(self, bits: int, signed: bool = False, step: float | None = None) -> None:
        super().__init__(bits, signed, narrow=False, channel_axis=None)
        self.register_buffer("step", torch.tensor(float(step if step is not None else 1.0 / self.qmax)))

    def scale(self) -> Tensor:
        return self.step

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.float()
            q = round_mode(torch.clamp(xf / self.step, self.qmin, self.qmax), self._rounding(), float(self.soft_k))
            return (q * self.step).to(x.dtype)


@QUANTIZERS.register("dorefa")
class DorefaQuantizer(Quantizer):
    """DoReFa-Net (Zhou et al. 2016) baseline, STE rounding, no learned parameters.

    - weights (`signed=True`): w' = tanh(w) / max|tanh(w)| ∈ [−1, 1], then q = round(w'·Qp) on the symmetric narrow
      grid, ŵ = q / Qp. The original DoReFa grid 2·round_k((w'+1)/2) − 1 has no zero level; the symmetric variant
      keeps zero point 0 so the same Q/DQ export applies (a deviation, stated here).
    - activations (`signed=False`): clamp(x, 0, 1), then q = round(x·Qp), x̂ = q / Qp (signed: clamp to [−1, 1]).
    The step is the constant 1/Qp, per tensor.
    """

    def __init__(self, bits: int, signed: bool, narrow: bool = False, weight: bool = False) -> None:
        super().__init__(bits, signed, narrow=narrow or weight, channel_axis=None)
        self.weight = bool(weight)

    def scale(self) -> Tensor:
        return torch.tensor(1.0 / self.qmax, device=self.soft_k.device)

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.float()
            if self.weight:
                t = torch.tanh(xf)
                xf = t / t.abs().max().clamp_min(1e-8)
            lo = -1.0 if self.signed else 0.0
            q = round_mode(torch.clamp(xf, lo, 1.0) * self.qmax, self._rounding(), float(self.soft_k))
            return (q / self.qmax).to(x.dtype)


@QUANTIZERS.register("pact")
class PactQuantizer(Quantizer):
    """PACT (Choi et al. 2018) activation quantizer: y = clamp(x, 0, α) (or [−α, α] signed), ŷ = round(y·Qp/α)·α/Qp.

    α is learned with PACT's gradient: ∂ŷ/∂α = 1 where x ≥ α (STE through the rounding), 0 elsewhere; it is
    initialised to max|x| of the first batch and takes the recipe's weight decay (PACT's L2 on α). PACT quantizes
    weights with DoReFa (`DorefaQuantizer(weight=True)`).
    """

    def __init__(self, bits: int, signed: bool) -> None:
        super().__init__(bits, signed, narrow=signed, channel_axis=None)
        self.alpha = nn.Parameter(torch.ones(1))
        self.register_buffer("initialized", torch.tensor(False))

    def scale(self) -> Tensor:
        return (self.alpha.abs().clamp_min(1e-8) / self.qmax).reshape(())

    def forward(self, x: Tensor) -> Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            xf = x.float()
            if not bool(self.initialized):
                with torch.no_grad():
                    self.alpha.fill_(float(xf.abs().max().clamp_min(1e-4)))
                    self.initialized.fill_(True)
            a = self.alpha.abs().clamp_min(1e-8)
            lo = -a if self.signed else torch.zeros_like(a)
            y = torch.minimum(torch.maximum(xf, lo), a)  # gradient to α only where x was clipped
            step = (a / self.qmax).detach()
            if self.training and self.mode == "ste":
                return (y + (torch.round(y / step) * step - y).detach()).to(x.dtype)
            q = round_mode(y / step, self._rounding(), float(self.soft_k))
            return (q * step).to(x.dtype)
