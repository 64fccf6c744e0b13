"""`python -m sma.cli`: how `sma up` starts its children (the same command as the `sma` script)."""

from sma.cli.main import entrypoint

entrypoint()
