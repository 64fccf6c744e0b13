"""SMA as MCP tools (official `mcp` SDK, v2 `MCPServer`): make a video, list what waits for approval,
approve or reject with feedback, read a run, trends and stats, change the autonomy level.

Every tool goes through the API's run operations and checks the caller's token like the REST API does
(same tokens, scopes and rate limit). Over HTTP the token is the request's bearer token (the guard in
front refuses requests without a valid one); over stdio it is SMA_API_TOKEN, checked at start.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ToolError

from sma.api import reads
from sma.api import runs as ops
from sma.api import schemas as s
from sma.api.context import ApiContext, bearer
from sma.api.errors import ApiError
from sma.api.pagination import PageParams
from sma.api.tokens import Caller, Scope

T = TypeVar("T")
TOKEN_ENV = "SMA_API_TOKEN"
WAITING = "awaiting_approval"


async def caller_of(api: ApiContext, ctx: Context, needed: Scope) -> Caller:
    """The caller of this tool call: the HTTP request's bearer token, else (stdio) SMA_API_TOKEN."""
    headers = ctx.headers
    token = bearer(headers.get("authorization")) if headers is not None else os.environ.get(TOKEN_ENV, "")
    try:
        return await api.authenticate(token, needed)
    except ApiError as exc:
        raise ToolError(f"{exc.code}: {exc.message}") from None


async def tool_call(work: Callable[[], Awaitable[T]]) -> T:
    """API errors as tool errors (the agent reads one line: code and what to do)."""
    try:
        return await work()
    except ApiError as exc:
        raise ToolError(f"{exc.code}: {exc.message}") from None


def build_server(api: ApiContext) -> MCPServer:
    server = MCPServer(name="sma", title="SMA short-video engine",
                       instructions="Make short videos from a topic or an article URL, review them and publish. "
                                    "A video waits for approval unless the project's autonomy level is higher: "
                                    "list pending_approvals, then approve or reject with feedback.")

    @server.tool()
    async def make_video(ctx: Context, topic: str = "", url: str = "", summary: str = "", project_id: str = "",
                         idempotency_key: str = "") -> dict[str, Any]:
        """Start a video from a topic (a short title) or an article URL. Returns the run id; the same
        idempotency_key returns the same run instead of a second video."""
        caller = await caller_of(api, ctx, "write")
        req = s.RunCreate(topic=topic, url=url, summary=summary, project_id=project_id)
        created = await tool_call(lambda: ops.create(api, caller, req, idempotency_key or None))
        return created.model_dump(mode="json")

    @server.tool()
    async def pending_approvals(ctx: Context, project_id: str = "", limit: int = 20) -> dict[str, Any]:
        """Runs whose video waits for a decision (approve or reject)."""
        await caller_of(api, ctx, "read")

        async def work() -> dict[str, Any]:
            client = await ops.run_client(api)
            page = await ops.guarded(lambda: client.list_runs(project_id or None, WAITING, max(1, min(limit, 100))))
            return {"runs": [r.model_dump(mode="json") for r in page.runs]}
        return await tool_call(work)

    @server.tool()
    async def run_status(ctx: Context, run_id: str) -> dict[str, Any]:
        """A run's state, current step, round, QA reports, artifacts and decisions."""
        await caller_of(api, ctx, "read")
        out = await tool_call(lambda: ops.detail(api, run_id))
        status = out.status
        return {"run_id": run_id, "state": status.state.value, "current_step": status.current_step,
                "round": status.round, "title": status.title, "error": status.error,
                "qa": [q.model_dump(mode="json") for q in out.qa],
                "artifacts": [a.name for a in out.artifacts],
                "decisions": [a.model_dump(mode="json") for a in out.approvals]}

    @server.tool()
    async def approve(ctx: Context, run_id: str, round: int | None = None) -> dict[str, Any]:
        """Approve the waiting video of a run (give the round you reviewed to be safe)."""
        caller = await caller_of(api, ctx, "write")
        return (await tool_call(lambda: ops.approve(api, caller, run_id, round))).model_dump(mode="json")

    @server.tool()
    async def reject(ctx: Context, run_id: str, feedback: str, round: int | None = None) -> dict[str, Any]:
        """Reject the waiting video with feedback; the script is written again from it."""
        caller = await caller_of(api, ctx, "write")
        return (await tool_call(lambda: ops.reject(api, caller, run_id, feedback, round))).model_dump(mode="json")

    @server.tool()
    async def trends(ctx: Context, project_id: str = "", limit: int = 10) -> dict[str, Any]:
        """The best-ranked topics of the project's latest trend scan."""
        await caller_of(api, ctx, "read")

        async def work() -> dict[str, Any]:
            scan, rows = await reads.trends(await api.database(), ops.project_of(api, project_id),
                                            PageParams(limit=max(1, min(limit, 100))))
            return {"scan_id": scan.id if scan else None,
                    "trends": [r.model_dump(mode="json") for r in rows[:limit]]}
        return await tool_call(work)

    @server.tool()
    async def stats(ctx: Context, project_id: str = "", days: int = 30) -> dict[str, Any]:
        """Views and engagement of the posts of the last `days` days, and how many runs are in each state."""
        await caller_of(api, ctx, "read")

        async def work() -> dict[str, Any]:
            found = await reads.analytics(await api.database(), project_id or None, max(1, min(days, 365)))
            states = await reads.run_states(await api.database(), project_id or None)
            return {"posts": found.posts, "views": found.views, "mean_engagement_rate": found.mean_engagement_rate,
                    "runs_by_state": states}
        return await tool_call(work)

    @server.tool()
    async def set_autonomy(ctx: Context, level: Literal["manual", "assisted", "autonomous"],
                           project_id: str = "") -> dict[str, Any]:
        """Change a project's autonomy level (manual: a person approves every video; assisted: auto-approve
        when every QA gate passes; autonomous: publish with no person, under guards)."""
        caller = await caller_of(api, ctx, "write")
        return (await tool_call(lambda: ops.set_level(api, caller, project_id, level, "mcp"))).model_dump(mode="json")

    return server
