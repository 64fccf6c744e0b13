"""Dashboard reads of tts_calls: usage per UTC day and engine, and today's TTS spend per project.

Aggregate SQL over the indexed `created_at` range (the statements live with the store, so the CLI and the
page print the same numbers). Guarded like the other capabilities' reads: a database not yet migrated to
revision 0008 gives an empty table, never a broken page.
"""

from __future__ import annotations

from datetime import datetime

from sma.dashboard.cache import AGGREGATE_S, cached
from sma.dashboard.queries import DB, guarded, reading, start_of_day
from sma.models.voice_usage import TTSUsageDay
from sma.services.voice.usage import spend_by_project_query, usage_by_day_query, usage_days


@cached(ttl_s=AGGREGATE_S)
async def tts_usage_by_day(db: DB, since: datetime, project_id: str | None = None) -> list[TTSUsageDay]:
    """Attempts, characters, seconds and cost per UTC day and engine since `since`, newest day first."""
    async def work() -> list[TTSUsageDay]:
        async with reading(db) as session:
            return usage_days((await session.exec(usage_by_day_query(since, project_id))).all())
    return await guarded("tts_usage", work, [], db)


@cached(ttl_s=AGGREGATE_S)
async def tts_spend_today_by_project(db: DB) -> dict[str, float]:
    async def work() -> dict[str, float]:
        async with reading(db) as session:
            rows = (await session.exec(spend_by_project_query(start_of_day()))).all()
        return {p: float(c or 0.0) for p, c in rows}
    return await guarded("tts_spend_today", work, {}, db)
