"""The `sma` command package: `main` assembles the app, `common` holds what the command groups share.

`entrypoint` and `app` are re-exported here: the console script is `sma.cli:entrypoint`.
"""

from sma.cli.main import app, entrypoint

__all__ = ["app", "entrypoint"]
