"""`sma insights [--json] [--project P]`: what the engine has learned, with the evidence behind each claim.

Insights come from the project memory (Mem0), where the intelligence run keeps them current; the latest
report adds when the analysis ran, on how many posts, and which leads are not sure enough yet. Without a
memory (disabled or busy) the report's own insights are shown, and the output says so.
"""

from __future__ import annotations

import asyncio
import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sma.cli.common import fail
from sma.cli.common import settings as _settings  # by this name so a test can stand in for it

if TYPE_CHECKING:
    from sma.models.intelligence import IntelligenceReport
    from sma.settings import Settings


def _pct(p: float) -> str:
    from sma.services.intelligence.insights import pct

    return pct(p)


def _leads(report: IntelligenceReport) -> list[str]:
    """Per platform, the leading hook style when no claim about it is confident yet."""
    lines = []
    for hooks in report.hooks:
        if not hooks.groups or any(g.confident for g in hooks.groups):
            continue
        top = max(hooks.groups, key=lambda g: g.p_best)
        lines.append(f"{hooks.platform}: {top.name} hooks lead ({top.lift:.2f}x the rest, P(best) {_pct(top.p_best)}, "
                     f"{top.n} of {hooks.n} posts) - not sure enough to act on")
    return lines


async def collect(settings: Settings, project_ids: list[str]) -> dict[str, Any]:
    from sma.services.intelligence.reports import report_store
    from sma.services.memory.service import build_memory_service, insight_from_memory

    reports = report_store(settings)
    memory = build_memory_service(settings)
    out: list[dict[str, Any]] = []
    for project_id in project_ids:
        report = reports.load(project_id)
        entry: dict[str, Any] = {"project": project_id, "source": "memory", "insights": [], "leads": [],
                                 "report": None}
        if report is not None:
            entry["report"] = {"generated_at": report.generated_at.isoformat(), "since": report.since.isoformat(),
                               "posts": report.posts, "platforms": report.platforms, "tests": report.tests,
                               "alpha": report.alpha, "notes": report.notes}
            entry["leads"] = _leads(report)
        stored = None
        if memory is not None:
            try:
                stored = await memory.list(project_id, "insight")
            except Exception as exc:  # busy or broken store: fall back to the report, and say so
                entry["note"] = f"memory unavailable ({exc}); showing the latest report's insights"
        if stored is not None and (stored or report is None or not report.insights):
            for item in stored:
                insight = insight_from_memory(item)
                data: dict[str, Any] = insight.model_dump() if insight else {"text": item.text, "key": item.key}
                data.update(memory_id=item.id, updated_at=item.updated_at.isoformat() if item.updated_at else None)
                entry["insights"].append(data)
        else:
            entry["source"] = "report"
            entry["insights"] = [i.model_dump() for i in (report.insights if report else [])]
        out.append(entry)
    return {"projects": out}


def render(data: dict[str, Any]) -> str:
    lines: list[str] = []
    for entry in data["projects"]:
        report = entry["report"]
        if report is None:
            lines.append(f"project {entry['project']}: no intelligence run yet")
        else:
            per = ", ".join(f"{k} {v}" for k, v in report["platforms"].items()) or "none"
            lines.append(f"project {entry['project']}: last analysis {report['generated_at'][:16].replace('T', ' ')} "
                         f"UTC, {report['posts']} posts ({per}), {report['tests']} comparisons at alpha "
                         f"{report['alpha']:g}")
        if entry.get("note"):
            lines.append(f"  note: {entry['note']}")
        insights = entry["insights"]
        where = "remembered in Mem0" if entry["source"] == "memory" else "from the report"
        lines.append(f"  insights ({len(insights)}, {where}):" if insights else "  no confident insight yet")
        for item in insights:
            lines.append(f"  - [{item.get('kind', '?')}] {item['text']}")
            for evidence in item.get("evidence") or []:
                lines.append(f"      {evidence}")
        for lead in entry["leads"]:
            lines.append(f"  lead: {lead}")
    return "\n".join(lines)


def insights_command(
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    project: Annotated[str | None, typer.Option("--project", "-p", help="one project (default: all)")] = None,
) -> None:
    """Print the current insights of each project with their evidence."""
    loaded = _settings()
    ids = [p.id for p in loaded.projects]
    if project is not None:
        if project not in ids:
            fail(f"unknown project {project!r}; configured projects: {', '.join(ids)}")
        ids = [project]
    data = asyncio.run(collect(loaded, ids))
    typer.echo(json.dumps(data, indent=1, default=str) if as_json else render(data))


def register(app: typer.Typer) -> None:
    """Add this command to the `sma` app."""
    app.command("insights")(insights_command)
