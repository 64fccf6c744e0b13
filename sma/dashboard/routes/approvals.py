"""Approval queue: each waiting video next to its project's brand guidelines, QA reports and script;
approve, reject with feedback, or edit the script (the edit is recorded).

Decisions go through the run client (`sma.client`, which the CLI and the bot share). The form names the
round the person saw; a run that has moved on to another round is refused with a message instead of
deciding a video nobody looked at.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import Response

from sma.client import RunError
from sma.dashboard import queries as q
from sma.dashboard import store
from sma.dashboard.deps import User, client_of, dash, require_user, user_of
from sma.dashboard.templating import redirect, render
from sma.dashboard.views import edit_mode, final_script, recorded_status
from sma.db import repo
from sma.db.tables_dashboard import ScriptEdit
from sma.models.pipeline import Beat, Script
from sma.services import audit

router = APIRouter(dependencies=[Depends(require_user)], tags=["approvals"])
MAX_FEEDBACK = 2000
QUEUE_SIZE = 10  # videos per page of the queue, most recently ready first


@router.get("/approvals")
async def queue(request: Request) -> Response:
    d = dash(request)
    async with d.database.session() as db:
        waiting = await q.runs_in_state(db, ["awaiting_approval"], limit=QUEUE_SIZE)
        total = (await q.count_by_state(db)).get("awaiting_approval", 0)
        extras = await q.for_runs(db, [r.id for r in waiting])
    items = [{
        "run": run, "status": recorded_status(run), "video": extras.videos.get(run.id),
        "script": final_script(extras.attempts.get(run.id, []), run.round), "project": d.project(run.project_id),
        "approvals": extras.approvals.get(run.id, []),
    } for run in waiting]
    return render(request, "pages/approvals.html", {"items": items, "edit_mode": edit_mode(), "total": total})


@router.get("/partials/approvals/count")
async def count(request: Request) -> Response:
    n = (await q.count_by_state(dash(request).database)).get("awaiting_approval", 0)
    return render(request, "partials/approval_count.html", {"n": n})


def _answer(request: Request, run_id: str, message: str, ok: bool) -> Response:
    if request.headers.get("hx-request"):
        return render(request, "partials/decision.html", {"message": message, "ok": ok, "run_id": run_id})
    back = request.headers.get("referer", "")
    target = f"/runs/{run_id}" if f"/runs/{run_id}" in back else "/approvals"
    return redirect(target, message if ok else "!" + message)


async def _audit(request: Request, user: User, action: str, run_id: str, ok: bool, message: str,
                 **detail: Any) -> None:
    d = dash(request)
    run = await repo.get_run(d.database, run_id)
    await audit.record(d.database, user.name, action, target=run_id, project_id=run.project_id if run else "",
                       outcome="ok" if ok else "refused", client=client_of(request), message=message, **detail)


@router.post("/approvals/{run_id}/approve")
async def approve(request: Request, run_id: str, round: int = Form(...)) -> Response:
    d, user = dash(request), user_of(request)
    try:
        await (await d.runs()).approve(run_id, round, by=user.by)
        message, ok = f"Approved round {round}; publishing starts now.", True
    except RunError as exc:
        message, ok = str(exc), False
    await _audit(request, user, "approve", run_id, ok, message, round=round)
    return _answer(request, run_id, message, ok)


@router.post("/approvals/{run_id}/reject")
async def reject(request: Request, run_id: str, round: int = Form(...), feedback: str = Form("")) -> Response:
    d, user = dash(request), user_of(request)
    feedback = feedback.strip()[:MAX_FEEDBACK]
    try:
        if not feedback:
            raise RunError("say what to change: the feedback goes to the script writer")
        await (await d.runs()).reject(run_id, feedback, round, by=user.by)
        message, ok = f"Rejected round {round}; a new script is being written with your feedback.", True
    except RunError as exc:
        message, ok = str(exc), False
    await _audit(request, user, "reject", run_id, ok, message, round=round, feedback=feedback)
    return _answer(request, run_id, message, ok)


def _edited(original: Script, form: dict[str, str]) -> Script:
    beats = []
    for i, beat in enumerate(original.beats):
        text = form.get(f"beat_{i}", beat.narration).strip()
        if text:
            beats.append(Beat(narration=text[:1000], visual=beat.visual))
    hook = form.get("hook", original.hook).strip()[:500]
    if not hook or not beats:
        raise RunError("the hook and at least one beat must have words")
    title = form.get("title", original.title).strip()[:120] or original.title
    return original.model_copy(update={"title": title, "hook": hook, "beats": beats,
                                       "cta": form.get("cta", original.cta).strip()[:300]})


@router.post("/approvals/{run_id}/edit")
async def edit_script(request: Request, run_id: str, round: int = Form(...)) -> Response:
    d, user = dash(request), user_of(request)
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    mode = edit_mode()
    try:
        run = await repo.get_run(d.database, run_id)
        if run is None:
            raise HTTPException(404, f"no run {run_id!r}")
        original = final_script(await q.script_attempts(d.database, run_id), round)
        if original is None:
            raise RunError("this run has no recorded script to edit")
        edited = _edited(original, form)
        runs = await d.runs()
        await runs.check_decidable(run_id, round)
        await store.record_edit(d.database, ScriptEdit(project_id=run.project_id, run_id=run_id, round=round,
                                                       by=user.by, original=original.model_dump_json(),
                                                       edited=edited.model_dump_json(), sent_as=mode))
        await runs.edit_script(run_id, edited, round, by=user.by)
        message, ok = "Script edited; the run re-records the voice and renders again from your text.", True
    except RunError as exc:
        message, ok = str(exc), False
    await _audit(request, user, "edit_script", run_id, ok, message, round=round, mode=mode)
    return _answer(request, run_id, message, ok)
