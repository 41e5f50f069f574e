"""Which int8 conv-weight encoding and stem kernel an `ort` INT8 graph should hold for a CPU (onnxruntime's kernels).

Torch-free, so a pipeline recipe's check can ask it before any training. See `export.qdq` (module docstring) for
the two encodings; both hold the same values.
"""

from __future__ import annotations

import platform
from collections.abc import Sequence

from gaitcompress.errors import GaitCompressError
from gaitcompress.results import cpu_flags

INT8_WEIGHTS = ("auto", "signed", "unsigned")
STEMS = ("auto", "float", "int8")  # the one-channel stem conv's kernel in an `ort` graph (qdq.float_input_quantizers)
VNNI = ("avx512_vnni", "avx_vnni")


def check_int8_weights(choice: str, named: str) -> None:
    """Refuse an unknown encoding, `named` as the user wrote it (`--int8-weights `, `recipe: export.int8_weights=`)."""
    if choice not in INT8_WEIGHTS:
        raise GaitCompressError(
            f"{named}{choice!r} is not an int8 weight encoding",
            f"use one of {', '.join(INT8_WEIGHTS)} (auto picks for this CPU)",
        )


def check_stem(choice: str, named: str) -> None:
    """Refuse an unknown stem kernel, `named` as the user wrote it (`--stem `, `recipe: export.stem=`)."""
    if choice not in STEMS:
        raise GaitCompressError(
            f"{named}{choice!r} is not a stem kernel",
            f"use one of {', '.join(STEMS)} (auto: an integer stem from 32 output channels, float below)",
        )


def int8_weights_for(choice: str = "auto", flags: Sequence[str] | None = None, machine: str | None = None) -> str:
    """`signed` or `unsigned` conv weights for an `ort` graph; `auto`: the exact and fast one on this CPU.

    Unsigned only on x86 without VNNI (where the u8×s8 kernel saturates: measured on an AVX2 EPYC, rank-1 +0.83);
    with VNNI the signed graph is exact and, at full GaitBase width, 2.5× faster (bench/results/deploy-int8-passes.md).
    """
    if choice not in INT8_WEIGHTS:
        raise ValueError(f"int8_weights={choice!r}: use one of {', '.join(INT8_WEIGHTS)}")
    if choice != "auto":
        return choice
    machine = (machine or platform.machine()).lower()
    flags = cpu_flags() if flags is None else flags
    x86 = machine in ("x86_64", "amd64", "i686", "x86")
    return "unsigned" if x86 and not any(f in flags for f in VNNI) else "signed"
