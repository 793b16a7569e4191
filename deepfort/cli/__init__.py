"""The `deepfort` command, one module per group."""
