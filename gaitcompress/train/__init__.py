"""gaitcompress.train."""
