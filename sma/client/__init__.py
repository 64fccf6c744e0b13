"""The one typed client for pipeline runs (start, status, decisions, retry, levels), used by every entry point."""

from sma.client.run_client import RunClient
from sma.client.types import (
    FORCE_HINT,
    Decision,
    LevelChange,
    NotDecidable,
    Retried,
    RunError,
    RunNotFound,
    RunPage,
    RunStatus,
    RunSummary,
    RunView,
    Started,
    Unavailable,
)

__all__ = ["FORCE_HINT", "Decision", "LevelChange", "NotDecidable", "Retried", "RunClient", "RunError",
           "RunNotFound", "RunPage", "RunStatus", "RunSummary", "RunView", "Started", "Unavailable"]
