"""Which checkpoints are due: pure functions over published posts and the rows already collected.

A checkpoint (1h, 6h, 24h, 48h, 168h after publishing) is due once its time has passed and no row exists
for it. It is collected late (and marked so) when it is collected more than `late_after` after its time,
which happens when the system was down when it fell due: then it is collected on the first run after.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta

from sma.db.tables_publishing import PublishRecord
from sma.models.analytics import CheckpointPlan, DueCheckpoint


def label(hours: float) -> str:
    return f"{hours:g}h"


def plan(records: Iterable[PublishRecord], collected: set[tuple[str, str, str]], hours: list[float],
         as_of: datetime, until: datetime) -> CheckpointPlan:
    """Checkpoints due by `as_of`, and the earliest one falling due after it (up to `until`)."""
    due: list[DueCheckpoint] = []
    upcoming: list[datetime] = []
    for record in records:
        if record.published_at is None:
            continue
        for h in sorted(hours):
            name = label(h)
            if (record.run_id, record.platform, name) in collected:
                continue
            at = record.published_at + timedelta(hours=h)
            if at <= as_of:
                due.append(DueCheckpoint(project_id=record.project_id, run_id=record.run_id,
                                         platform=record.platform, external_id=record.external_id,
                                         checkpoint=name, hours=h, published_at=record.published_at, due_at=at))
            elif at <= until:
                upcoming.append(at)
    return CheckpointPlan(due=due, next_due_at=min(upcoming) if upcoming else None)


def is_late(due_at: datetime, collected_at: datetime, late_after: timedelta) -> bool:
    return collected_at - due_at > late_after
