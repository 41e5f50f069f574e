"""gaitcompress.models.layers."""
