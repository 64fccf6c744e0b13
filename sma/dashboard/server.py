"""Serving the dashboard: what `sma dashboard` (and so `sma up`) runs, and what bench/dashboard.py measures.

One uvicorn process. uvicorn picks uvloop and httptools when they are installed (both are dependencies):
they parse HTTP and run the event loop in C, which matters when many small requests (pages and their
polls) share two cores. No access log (one line per poll would be most of the log file).
"""

from __future__ import annotations

import gc

from sma.settings import Settings


def tune_gc() -> None:
    """Move everything alive after start (modules, templates, the ORM's registries: about 200,000 objects)
    out of the collector's reach. Otherwise each full collection walks them all and stalls every request
    in flight for 100-150 ms; with them frozen a collection only sees what requests allocated since."""
    gc.collect()
    gc.freeze()


def serve(settings: Settings, host: str, port: int, setup_token: str | None = None) -> None:
    """Serve until interrupted."""
    import uvicorn

    from sma.dashboard.app import create_app

    app = create_app(settings, setup_token=setup_token, after_start=tune_gc)
    uvicorn.run(app, host=host, port=port, log_level="warning", access_log=False, proxy_headers=False,
                server_header=False)
