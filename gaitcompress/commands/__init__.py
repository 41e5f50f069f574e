"""CLI command bodies, one module per stage; `gaitcompress.cli` registers them in one place."""
