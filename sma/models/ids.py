"""Every business key in one place: workflow ids, schedule ids, item ids and slugs.

Workflow ids are business keys (DESIGN.md convention 6): the same topic of the same project always maps to
the same run, so a second start finds the first instead of doubling it, and the run page, the database row
and the Telegram message all share the id. Pure functions of their arguments, safe inside workflows.
"""

from __future__ import annotations

import re
import uuid
from datetime import datetime

CONTENT_PREFIX = "content-"


def slug(text: str, limit: int = 40) -> str:
    """Lower-case ASCII words joined by dashes, at most `limit` characters; "topic" when nothing is left."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:limit].strip("-") or "topic"


def content_workflow_id(project_id: str, item_id: str) -> str:
    """The pipeline run of one content item."""
    return f"{CONTENT_PREFIX}{project_id}-{item_id}"


def slot_workflow_id(project_id: str, item_id: str) -> str:
    """The calendar slot that waits for its time and then starts the item's pipeline run."""
    return f"slot-{project_id}-{item_id}"


def trend_scan_id(project_id: str) -> str:
    """The trend-scan schedule of a project (Temporal appends the fire time to the runs it starts)."""
    return f"trend-scan-{project_id}"


def content_scheduler_id(project_id: str) -> str:
    """The content-scheduler schedule of a project."""
    return f"content-scheduler-{project_id}"


def new_item_id(title: str) -> str:
    """A fresh item id: the title's slug and a random tail (not for use inside a workflow)."""
    return f"{slug(title)}-{uuid.uuid4().hex[:6]}"


def keyed_item_id(title: str, key: str, *, limit: int = 40, key_chars: int = 8) -> str:
    """The item id of a topic with a known key: same title and key, same item (and so the same run)."""
    return f"{slug(title, limit)}-{key[:key_chars]}"


def manual_run_id(base: str, now: datetime) -> str:
    """A one-off run started by hand (`sma trends scan`), beside the schedule's runs of the same base."""
    return f"{base}-cli-{now:%Y%m%dT%H%M%S}"
