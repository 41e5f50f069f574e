"""gaitcompress.rerank."""
