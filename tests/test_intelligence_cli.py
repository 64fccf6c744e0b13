"""`sma insights [--json]`: the current insights with their evidence, from Mem0 and the latest report."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import typer
from typer.testing import CliRunner

from sma.cli import insights as cli
from sma.services.intelligence.analysis import Analyser
from sma.services.intelligence.config import IntelligenceSettings
from sma.services.intelligence.reports import report_store
from sma.services.memory.service import MemoryService, insight_metadata
from sma.settings import ProjectSettings
from tests.intelligence_sim import history
from tests.memory_fixtures import new_project, settings_for, shared_backend

AS_OF = datetime(2026, 3, 1, tzinfo=UTC)


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """sma"""

    cli.register(app)
    return app


def test_insights_command_prints_claims_with_evidence_and_honest_leads(monkeypatch: pytest.MonkeyPatch) -> None:
    learned, unsure, fresh = new_project(), new_project(), new_project()
    settings = settings_for(learned, ["tiktok", "youtube"])
    settings.projects += [ProjectSettings(id=unsure), ProjectSettings(id=fresh)]
    analyser, since = Analyser(IntelligenceSettings()), AS_OF - timedelta(days=90)
    report = analyser.analyse(learned, history(4, boost={("tiktok", "question"): 2.0}), AS_OF, since)
    report_store(settings).save(report)
    report_store(settings).save(analyser.analyse(unsure, history(4, posts_per_platform=30), AS_OF, since))
    shared_backend().run(lambda memory: [MemoryService.upsert_sync(memory, learned, i.key, i.text, insight_metadata(i))
                                         for i in report.insights])
    monkeypatch.setattr(cli, "_settings", lambda: settings)

    out = CliRunner().invoke(_app(), ["insights", "--json"])
    assert out.exit_code == 0, out.output
    data = {p["project"]: p for p in json.loads(out.output)["projects"]}
    mine = data[learned]
    assert mine["source"] == "memory" and mine["report"]["posts"] == 300
    assert [i["text"] for i in mine["insights"]] == [report.insights[0].text] and mine["insights"][0]["memory_id"]
    assert mine["insights"][0]["evidence"] == report.insights[0].evidence and mine["insights"][0]["lift"] > 1.5
    assert data[unsure]["insights"] == [] and data[unsure]["leads"]  # a lead, said to be not sure enough
    assert data[fresh]["report"] is None and data[fresh]["insights"] == []

    text = CliRunner().invoke(_app(), ["insights", "--project", learned])
    assert text.exit_code == 0
    assert "insights (1, remembered in Mem0):" in text.output and report.insights[0].text in text.output
    assert "claim survives Holm's correction" in text.output
    unsure_text = CliRunner().invoke(_app(), ["insights", "-p", unsure]).output
    assert "no confident insight yet" in unsure_text and "not sure enough to act on" in unsure_text
    assert "no intelligence run yet" in CliRunner().invoke(_app(), ["insights", "-p", fresh]).output
    bad = CliRunner().invoke(_app(), ["insights", "-p", "nope"])
    assert bad.exit_code == 2 and "unknown project 'nope'" in bad.output
