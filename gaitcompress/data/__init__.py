"""gaitcompress.data."""
