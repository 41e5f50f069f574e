"""gaitcompress.quant."""
