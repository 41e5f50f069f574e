"""Reading one silhouette sequence file safely: `.pkl` (restricted unpickler), `.npy`, `.npz`.

Pickle is code execution: a `.pkl` from the internet can run anything on `pickle.load`. The unpickler here
resolves only the few numpy names an ndarray pickle needs (numpy 1 writes `numpy.core.*`, numpy 2
`numpy._core.*`) and refuses every other global, naming the file. Every problem with a file's bytes or
contents is a `GaitCompressError` that names the file and says how to fix it.
"""

from __future__ import annotations

import importlib
import io
import pickle
import zipfile
from pathlib import Path

import numpy as np

from gaitcompress.errors import GaitCompressError

SUFFIXES = (".pkl", ".npy", ".npz")
_ALLOWED_GLOBALS = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.numeric", "_frombuffer"),  # protocol-5 pickles of contiguous arrays
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # protocol-2 pickles store the array bytes as latin-1 text (as torch's weights_only allows)
}
_NUMPY_CORE = "numpy._core" if hasattr(np, "_core") else "numpy.core"  # where this numpy keeps those names
_OK_KINDS = "biuf"  # bool, signed/unsigned int, float


class _ArrayUnpickler(pickle.Unpickler):
    def __init__(self, file: io.BufferedIOBase, path: Path) -> None:
        super().__init__(file)
        self.path = path

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise GaitCompressError(
                f"{self.path}: refusing to unpickle {module}.{name} (only numpy arrays are allowed)",
                "this file is not a plain silhouette array; re-create it with pickle.dump(uint8_array) or use .npy",
            )
        if module.startswith(("numpy.core", "numpy._core")):  # numpy 1 and 2 pickles both load on either numpy
            module = _NUMPY_CORE + module.split("core", 1)[1]
        return getattr(importlib.import_module(module), name)


def load_pickle_array(path: Path) -> np.ndarray:
    """Unpickle `path`, admitting only a numpy array."""
    with open(path, "rb") as f:
        try:
            obj = _ArrayUnpickler(f, path).load()
        except GaitCompressError:
            raise
        except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as exc:
            raise GaitCompressError(
                f"{path}: truncated or corrupt pickle ({type(exc).__name__}: {exc})",
                "re-create the file (an interrupted copy or pretreatment leaves it truncated)",
            ) from exc
    if not isinstance(obj, np.ndarray):
        raise GaitCompressError(f"{path}: holds a {type(obj).__name__}, not a numpy array", "pickle one uint8 array")
    return obj


def read_array(path: str | Path) -> np.ndarray:
    """Raw array stored in one sequence file (any of `SUFFIXES`), not yet validated."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise GaitCompressError(f"{path}: cannot be read ({exc.strerror})", "check that the file exists") from exc
    if size == 0:
        raise GaitCompressError(f"{path}: empty file", "re-create it or remove its folder")
    suffix = path.suffix.lower()
    if suffix == ".pkl":
        return load_pickle_array(path)
    try:
        if suffix == ".npy":
            return np.load(path, allow_pickle=False)
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                if len(npz.files) != 1:
                    raise GaitCompressError(
                        f"{path}: holds {len(npz.files)} arrays {npz.files}", "store exactly one array per .npz"
                    )
                return npz[npz.files[0]]
    except GaitCompressError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise GaitCompressError(
            f"{path}: truncated or corrupt {suffix} ({exc})", "re-create the file (object arrays are not accepted)"
        ) from exc
    raise GaitCompressError(f"{path}: unsupported file type {suffix!r}", "use .pkl, .npy or .npz")


def check_array(arr: np.ndarray, path: str | Path) -> np.ndarray:
    """Validate a silhouette sequence `[T, H, W]` and return it as uint8 0..255 (floats in [0,1] are scaled).

    Refuses: a dtype that is not bool/int/float, a shape that is not 3-D, zero frames, NaN/inf, values
    outside 0..255 (or 0..1 for floats whose max ≤ 1).
    """
    if arr.dtype.kind not in _OK_KINDS:
        raise GaitCompressError(
            f"{path}: dtype {arr.dtype} is not a silhouette dtype", "store uint8 silhouettes (0..255) as OpenGait does"
        )
    if arr.ndim != 3 or arr.shape[1] < 8 or arr.shape[2] < 8:
        raise GaitCompressError(
            f"{path}: shape {arr.shape} is not [frames, height, width]", "store one uint8 array [T, 64, 64] per file"
        )
    if arr.shape[0] == 0:
        raise GaitCompressError(f"{path}: has zero frames", "remove this sequence or re-run the pretreatment")
    if arr.dtype.kind == "b":
        return arr.astype(np.uint8) * np.uint8(255)
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all():
            raise GaitCompressError(f"{path}: contains NaN or inf values", "re-create the file from the images")
        scale = 255.0 if arr.max(initial=0) <= 1.0 else 1.0
        arr = np.rint(arr * scale)  # round, or 0.5·255 grey would truncate one level down
    if arr.min(initial=0) < 0 or arr.max(initial=0) > 255:
        raise GaitCompressError(
            f"{path}: values {arr.min()}..{arr.max()} are outside 0..255", "store silhouettes as uint8 0..255"
        )
    return np.ascontiguousarray(arr, dtype=np.uint8) if arr.dtype != np.uint8 else arr


def load_sequence(path: str | Path) -> np.ndarray:
    """A validated `uint8 [T, H, W]` sequence from `path`."""
    return check_array(read_array(path), path)
