"""gaitcompress.evaluation."""
