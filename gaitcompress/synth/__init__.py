"""gaitcompress.synth."""
