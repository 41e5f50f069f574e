"""Old import path of `gaitcompress.quant.qmodel` (the `qat` checkpoint kind), kept for existing callers."""

from gaitcompress.quant.qmodel import load_quantized, model_from_qat, save_quantized  # noqa: F401
