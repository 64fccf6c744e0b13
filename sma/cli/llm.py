"""The LLM gateway: `sma script` (step 2 alone), `sma llm usage`, `sma llm providers`."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import TYPE_CHECKING, Annotated, Any

import typer

from sma.cli import common

if TYPE_CHECKING:
    from sma.db.engine import Database
    from sma.models.pipeline import ScriptResult

llm_app = typer.Typer(no_args_is_help=True, help="LLM gateway: providers, usage and cost.")


def _print_result(result: ScriptResult, attempt: int, show_script: bool) -> None:
    script = result.script
    verdict = "pass" if result.qa.passed else "FAIL"
    typer.echo(f"attempt {attempt}: tier {result.tier}, QA_SCRIPT {verdict}, {result.qa.metrics.get('seconds', 0)} s, "
               f"${result.cost_usd:.4f} in {result.llm_calls} call(s)")
    for reason in result.qa.reasons:
        typer.echo(f"  - {reason}")
    for note in result.notes:
        typer.echo(f"  note: {note}")
    if show_script:
        typer.echo(f"\n# {script.title}  [{script.hook_style}, prompt {script.prompt_version}]")
        typer.echo(f"HOOK: {script.hook}")
        for i, beat in enumerate(script.beats, 1):
            visual = f"  [{beat.visual.kind}]" if beat.visual.kind != "none" else ""
            typer.echo(f"{i}. {beat.narration}{visual}")
        typer.echo(f"CTA: {script.cta}")
        typer.echo(f"hashtags: {' '.join(script.hashtags)}")
        for platform, tags in script.platform_hashtags.items():
            typer.echo(f"  {platform}: {' '.join(tags)}")
        typer.echo("")


def script_command(
    topic: Annotated[str, typer.Option("--topic", "-t", help="what the video is about")],
    summary: Annotated[str, typer.Option(help="a few sentences of context")] = "",
    fact: Annotated[list[str] | None, typer.Option("--fact", help="a fact from the source (repeatable)")] = None,
    source: Annotated[list[str] | None, typer.Option("--source", help="source URL (repeatable)")] = None,
    project: Annotated[str, typer.Option("--project", "-p")] = "default",
    feedback: Annotated[list[str] | None, typer.Option("--feedback", "-f", help="reviewer feedback")] = None,
    media: Annotated[list[str] | None, typer.Option("--media", help="photo or video to describe first")] = None,
    attempts: Annotated[int | None, typer.Option(help="QA attempts (default pipeline.max_script_attempts)")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Write a script (step 2 alone, with QA_SCRIPT retries) and print it with its QA report."""
    from sma.models.pipeline import MediaRequest, ScriptRequest, Topic
    from sma.models.topic import TopicError
    from sma.services.llm.errors import BudgetExceeded

    loaded = common.project_settings(project)
    try:
        checked = Topic.checked(topic, summary, fact, source)
    except TopicError as exc:
        common.fail(str(exc))
    run_id = f"cli-{uuid.uuid4().hex[:8]}"
    req = ScriptRequest(project_id=project, run_id=run_id, feedback=feedback or [], topic=checked)

    async def work(database: Database) -> tuple[list[ScriptResult], Any]:
        from sma.wiring import script_services

        scripts, vision = script_services(loaded, database)
        try:
            analysis = None
            if media:
                analysis = await vision.analyse(MediaRequest(project_id=project, run_id=run_id, media=media))
            step = req.model_copy(update={"media_context": analysis.context if analysis else ""})
            results = await scripts.write_until_passed(step, attempts or loaded.pipeline.max_script_attempts)
            return results, analysis
        finally:
            if scripts.llm is not None:
                await scripts.llm.gateway.aclose()

    try:
        results, analysis = asyncio.run(common.with_database(loaded, work))
    except BudgetExceeded as exc:
        common.fail(str(exc), 1)
    if as_json:
        payload = {"run_id": run_id, "media": analysis.model_dump() if analysis else None,
                   "attempts": [r.model_dump(mode="json") for r in results],
                   "script": results[-1].script.model_dump(mode="json"), "qa": results[-1].qa.model_dump()}
        typer.echo(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if analysis is not None:
        typer.echo(f"media: {analysis.tier} {analysis.context or '; '.join(analysis.notes)}")
    for i, result in enumerate(results, 1):
        _print_result(result, i, show_script=i == len(results))


@llm_app.command("usage")
def usage_command(
    days: Annotated[int, typer.Option(help="this many UTC days, today included")] = 7,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Calls, tokens and cost per day, project, provider and model; today's spend against each budget."""
    from sma.services.llm.store import DBUsageStore, start_of_day, summarize, usage_since_days

    loaded = common.settings()

    async def work(database: Database) -> tuple[list[Any], dict[str, float]]:
        store = DBUsageStore(database)
        rows = summarize(await store.calls(usage_since_days(days), project))
        ids = [project] if project else [p.id for p in loaded.projects]
        today = {pid: await store.spent_since(pid, start_of_day()) for pid in ids}
        return rows, today

    rows, today = asyncio.run(common.with_database(loaded, work))
    budgets = {pid: loaded.llm.budget_for(pid) for pid in today}
    if as_json:
        typer.echo(json.dumps({"rows": [r.model_dump() for r in rows],
                               "today": {pid: {"spent_usd": round(v, 6), "budget_usd": budgets[pid]}
                                         for pid, v in today.items()}}, indent=2))
        return
    typer.echo(f"{'day':<11} {'project':<14} {'provider':<12} {'model':<24} {'calls':>5} {'failed':>6} "
               f"{'tokens in':>10} {'tokens out':>10} {'cost $':>9}")
    for r in rows:
        typer.echo(f"{r.day:<11} {r.project_id:<14} {r.provider:<12} {r.model:<24} {r.calls:>5} {r.failed:>6} "
                   f"{r.tokens_in:>10} {r.tokens_out:>10} {r.cost_usd:>9.4f}")
    if not rows:
        typer.echo("(no LLM calls in this period)")
    for pid, spent in today.items():
        budget = budgets[pid]
        limit = "unlimited" if budget is None else f"${budget:.2f}"
        typer.echo(f"today {pid}: spent ${spent:.4f} of {limit}")


@llm_app.command("providers")
def providers_command() -> None:
    """Each stage's provider chain, and whether each provider can be called (and if not, why)."""
    from sma.services.llm.gateway import LLMGateway
    from sma.services.llm.store import MemoryUsageStore

    loaded = common.settings()
    gateway = LLMGateway(loaded.llm, loaded.secrets, MemoryUsageStore())
    for stage in loaded.llm.chains:
        typer.echo(f"{stage}:")
        for name, model, ok, reason in gateway.chain(stage):
            typer.echo(f"  {name:<12} {model:<28} {'ready' if ok else 'off'}  {'' if ok else reason}")
        typer.echo("  template (offline)" if stage == "script" else "  (skipped when none is ready)")


def register(app: typer.Typer) -> None:
    """Add these commands to the `sma` app."""
    app.command("script")(script_command)
    app.add_typer(llm_app, name="llm")
