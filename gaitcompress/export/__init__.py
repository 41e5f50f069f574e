"""gaitcompress.export."""
