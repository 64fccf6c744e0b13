"""Synthetic runs for load tests and benchmarks (`bench/dashboard.py`, the 10,000-run tests).

Rows are written with one multi-row INSERT per table and batch, the way a long-lived installation looks:
mostly published runs, some rejected or failed, a few in flight or waiting, spread over the last days.
"""

from __future__ import annotations

import json
import random
from datetime import timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import insert

from sma.db.engine import Database
from sma.db.tables import PipelineRun, Post, Project, StepRun, utcnow
from sma.models.common import StepState
from sma.models.ids import content_workflow_id
from sma.models.pipeline import STEPS, PipelineStatus, RunState, StepStatus

STATES = (("published", 70), ("rejected", 8), ("failed", 7), ("running", 5), ("awaiting_approval", 5),
          ("held", 2), ("cancelled", 3))
TOPICS = ("Why uv is fast", "Durable workflows explained", "Rust in the Linux kernel", "SQLite is enough",
          "What is a vector database", "HTTP/3 in five facts", "Git worktrees", "The cost of a context switch")


def _state(rng: random.Random) -> str:
    return rng.choices([s for s, _ in STATES], weights=[w for _, w in STATES])[0]


@lru_cache(maxsize=64)
def _status_template(project: str, state: str) -> str:
    done = state in ("published", "awaiting_approval", "held", "rejected")
    steps = {name: StepStatus(name=name, state=StepState.DONE if done or i < 4 else StepState.PENDING, tier="seed",
                             seconds=1.0)
             for i, name in enumerate(STEPS)}
    return PipelineStatus(workflow_id="@ID@", project_id=project, item_id="@ID@", state=RunState(state),
                          title="@TITLE@", current_step="" if done else "voiceover", steps=steps).model_dump_json()


def _status(run_id: str, project: str, state: str, title: str) -> str:
    """A recorded PipelineStatus as the recorder writes it (built once per state, then filled in)."""
    return (_status_template(project, state).replace("@ID@", run_id)
            .replace('"@TITLE@"', json.dumps(title)))


async def seed_runs(db: Database, n: int, projects: tuple[str, ...] = ("default",), seed: int = 7,
                    steps: bool = False, posts: bool = True, batch: int = 500) -> list[str]:
    """Insert `n` runs (ids `content-<project>-seed-<i>`); optionally their steps and posts. Returns the ids."""
    rng, now = random.Random(seed), utcnow()
    runs: list[dict[str, Any]] = []
    for i in range(n):
        project = projects[i % len(projects)]
        run_id, state = content_workflow_id(project, f"seed-{i:06d}"), _state(rng)
        started = now - timedelta(minutes=rng.randint(5, 60 * 24 * 30))
        title = f"{rng.choice(TOPICS)} #{i}"
        finished = started + timedelta(seconds=rng.randint(40, 600)) if state in ("published", "rejected",
                                                                                    "failed") else None
        runs.append({"id": run_id, "project_id": project, "item_id": run_id, "title": title, "state": state,
                     "current_step": "" if finished else "voiceover", "round": 1, "autonomy": "manual",
                     "platforms": json.dumps(["local"]), "started_at": started,
                     "updated_at": finished or started + timedelta(seconds=30), "finished_at": finished,
                     "video_path": None, "error": "render: ffmpeg exited 1" if state == "failed" else "",
                     "status_json": _status(run_id, project, state, title)})
    async with db.session() as session, session.begin():
        for project in projects:
            if await session.get(Project, project) is None:
                session.add(Project(id=project, name=project))
        await session.flush()
        for start in range(0, n, batch):
            chunk = runs[start:start + batch]
            await session.exec(insert(PipelineRun).values(chunk))
            if steps:
                rows = _steps(chunk)
                for at in range(0, len(rows), 1000):  # SQLite caps the parameters of one statement
                    await session.exec(insert(StepRun).values(rows[at:at + 1000]))
            if posts:
                rows = [_post(r) for r in chunk if r["state"] == "published"]
                if rows:
                    await session.exec(insert(Post).values(rows))
    return [r["id"] for r in runs]


def _steps(chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"project_id": r["project_id"], "run_id": r["id"], "round": 1, "name": name, "state": "done",
             "tier": "seed", "seconds": 1.0, "attempts": 1, "notes": "[]", "error": "",
             "started_at": r["started_at"], "finished_at": r["started_at"]} for r in chunk for name in STEPS]


def _post(run: dict[str, Any]) -> dict[str, Any]:
    return {"project_id": run["project_id"], "run_id": run["id"], "platform": "local", "status": "published",
            "url": "", "external_id": run["id"], "reason": "", "published_at": run["finished_at"],
            "updated_at": run["finished_at"]}
