"""gaitcompress.models."""
