"""A run's own actions besides the approval decision: re-open an expired run, cancel one in flight,
retry a failed one from its failed step.

They go through the run client (sma.client), the same calls the Telegram bot (`/reopen`, `/cancel`,
`/retry`) and the CLI make, so the rules (only an expired run re-opens, a finished
one cannot be cancelled, only a failed one is retried) are one.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sma.client import RunError
from sma.dashboard.deps import client_of, dash, require_user, user_of
from sma.dashboard.templating import redirect
from sma.db import repo
from sma.services import audit

router = APIRouter(dependencies=[Depends(require_user)], tags=["runs"])


async def _act(request: Request, run_id: str, action: str) -> Response:
    d, user = dash(request), user_of(request)
    runs = await d.runs()
    try:
        if action == "reopen":
            await runs.reopen(run_id, by=user.by)
            message = "Re-opened: the video waits for a decision again."
        elif action == "retry":
            started = await runs.retry(run_id, by=user.by)
            message = f"Retrying from {started.step}: the steps that finished are kept."
        else:
            await runs.cancel(run_id, by=user.by)
            message = "Cancelled: the run stops; what it made so far is kept."
        ok = True
    except RunError as exc:
        message, ok = str(exc), False
    run = await repo.get_run(d.database, run_id)
    await audit.record(d.database, user.name, action, target=run_id, project_id=run.project_id if run else "",
                       outcome="ok" if ok else "refused", client=client_of(request), message=message)
    return redirect(f"/runs/{run_id}", message if ok else "!" + message)


@router.post("/runs/{run_id}/reopen")
async def reopen(request: Request, run_id: str) -> Response:
    return await _act(request, run_id, "reopen")


@router.post("/runs/{run_id}/retry")
async def retry(request: Request, run_id: str) -> Response:
    return await _act(request, run_id, "retry")


@router.post("/runs/{run_id}/cancel")
async def cancel(request: Request, run_id: str) -> Response:
    return await _act(request, run_id, "cancel")
