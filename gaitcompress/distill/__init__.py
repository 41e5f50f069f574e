"""gaitcompress.distill."""
