"""Business keys keep their shapes: a changed id would start a second run for a topic that already has one."""

from __future__ import annotations

from datetime import UTC, datetime

from sma.models.ids import (
    content_scheduler_id,
    content_workflow_id,
    keyed_item_id,
    manual_run_id,
    new_item_id,
    slot_workflow_id,
    slug,
    trend_scan_id,
)


def test_ids_keep_their_business_key_shapes() -> None:
    assert content_workflow_id("acme", "ai-news-1a2b3c") == "content-acme-ai-news-1a2b3c"
    assert slot_workflow_id("acme", "ai-news-1a2b3c") == "slot-acme-ai-news-1a2b3c"
    assert trend_scan_id("acme") == "trend-scan-acme"
    assert content_scheduler_id("acme") == "content-scheduler-acme"
    assert manual_run_id(trend_scan_id("acme"), datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)) == \
        "trend-scan-acme-cli-20260102T030405"


def test_slug_is_ascii_dashes_within_the_limit() -> None:
    assert slug("  Hello, World! Ünïcode  ") == "hello-world-n-code"
    assert slug("a" * 50, 10) == "a" * 10
    assert slug("word " * 20, 12) == "word-word-wo"
    assert slug("!!!") == "topic"


def test_keyed_item_id_is_stable_and_new_item_id_is_not() -> None:
    assert keyed_item_id("AI agents in 2026", "0123456789abcdef") == "ai-agents-in-2026-01234567"
    assert keyed_item_id("AI agents", "0123456789", limit=30, key_chars=6) == "ai-agents-012345"
    first, second = new_item_id("AI agents"), new_item_id("AI agents")
    assert first.startswith("ai-agents-") and first != second
