"""gaitcompress.bench."""
