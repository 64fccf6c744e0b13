"""The publish records (idempotency ledger) and the 0004 migration, on real SQLite and PostgreSQL databases."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from pydantic import SecretStr
from sqlmodel import SQLModel

from sma.db import tables_publishing  # noqa: F401  (registers the tables)
from sma.db.engine import Database, make_sync_engine
from sma.db.migrate import downgrade, upgrade
from sma.models.pipeline import PostResult
from sma.services.platforms.ledger import PublishLedger, post_of, progress_of
from sma.settings import Secrets, Settings
from tests.platform_fakes.kit import harness, make_video, settings_for

pytestmark = pytest.mark.both_databases


def test_migration_matches_the_models_and_downgrades(blank_db_url: str) -> None:
    url = blank_db_url
    upgrade(url)
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            diff = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}),
                                    SQLModel.metadata)
    finally:
        engine.dispose()
    ours = [d for d in diff if any(t in str(d) for t in ("publish_records", "platform_credentials", "post_metrics"))]
    assert ours == []
    downgrade(url, "0003")
    upgrade(url)


async def test_ledger_lifecycle(database: Database) -> None:
    ledger = PublishLedger(database)
    first = await ledger.begin("test", "run-1", "youtube", "Title", "ab" * 32)
    assert first.state == "started" and first.attempts == 1
    await ledger.save_progress("run-1", "youtube", {"session_uri": "https://upload/1"})
    again = await ledger.begin("test", "run-1", "youtube", "Title", "ab" * 32)
    assert again.attempts == 2 and progress_of(again) == {"session_uri": "https://upload/1"}

    post = PostResult(platform="youtube", status="published", url="https://y/1", external_id="v1")
    await ledger.complete("run-1", "youtube", post)
    await ledger.fail("run-1", "youtube", "a late failure")  # never overwrites a confirmed post
    record = await ledger.get("run-1", "youtube")
    assert record is not None and post_of(record) == post and record.published_at is not None

    await ledger.begin("test", "run-1", "youtube", "Title", "ab" * 32)
    record = await ledger.get("run-1", "youtube")
    assert record is not None and record.state == "published"  # a published record stays published

    await ledger.begin("test", "run-2", "tiktok", "T", "cd" * 32)
    await ledger.fail("run-2", "tiktok", "tiktok: rejected")
    failed = await ledger.get("run-2", "tiktok")
    assert failed is not None and post_of(failed).status == "failed"
    retried = await ledger.begin("test", "run-2", "tiktok", "T", "cd" * 32)
    assert retried.state == "started"  # a later run of the activity may try again
    assert [r.run_id for r in await ledger.published(record.published_at.replace(year=2000))] == ["run-1"]


async def test_unconfigured_platforms_fail_or_skip_with_the_fix(settings: Settings, database: Database,
                                                                tmp_path: Path) -> None:
    s = settings_for(settings, platforms=["local", "youtube"])
    h = harness(s, database, make_video(tmp_path / "v.mp4", seconds=1, bitrate="100k"))
    post = await h.service.publish(h.request(), "youtube")
    assert post.status == "failed" and "run `sma credentials set test youtube`" in post.reason
    post = await h.service.publish(h.request(), "tiktok")
    assert post.status == "skipped" and "not enabled for project 'test'" in post.reason
    post = await h.service.publish(h.request(), "local")
    assert post.status == "published" and post.url.startswith("file://")

    bad = harness(s.model_copy(update={"secrets": Secrets(fernet_key=SecretStr("not-a-key"))}), database,
                  Path(h.video.path))  # a worker still starts with a bad key; the post says what is wrong
    post = await bad.service.publish(bad.request(run_id="run-badkey"), "youtube")
    assert post.status == "failed" and "not a valid Fernet key" in post.reason
