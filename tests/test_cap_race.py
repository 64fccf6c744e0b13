"""Caps are exact across processes: two worker processes, each with its own engine, race for a daily cap of
one post against the same database (SQLite file and PostgreSQL server); exactly one of them may publish.

What runs is the publish guard, `AutonomyService.decide(stage="publish")`, the step that reserves the
publish slot before the publish activity posts anything: "publishes" means its verdict is `approve`.
"""

from __future__ import annotations

import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import pytest
from sqlalchemy import text

from sma.db import repo
from sma.db.engine import Database
from tests.cap_race import race, settings

pytestmark = pytest.mark.both_databases
ROUNDS = 8  # eight projects with a cap of one each: eight races, each started at a barrier


async def test_two_processes_race_for_a_cap_of_one_and_exactly_one_publishes(migrated_db_url: str) -> None:
    projects = [f"race{i}" for i in range(ROUNDS)]
    async with Database(migrated_db_url) as database:  # as after `sma up`: the project rows exist
        for project in settings(projects).projects:
            await repo.ensure_project(database, project)
    context = multiprocessing.get_context("spawn")
    with context.Manager() as manager, ProcessPoolExecutor(2, mp_context=context) as pool:
        barrier = manager.Barrier(2)
        futures = [pool.submit(race, migrated_db_url, name, projects, barrier) for name in ("a", "b")]
        results = [future.result(timeout=180) for future in futures]

    for project in projects:
        verdicts = sorted(result[project] for result in results)
        assert verdicts == ["approve", "block"], (project, verdicts)
    async with Database(migrated_db_url) as database, database.session() as session:
        rows = (await session.exec(text("SELECT project_id, count(*) FROM publish_slots GROUP BY project_id")
                                   )).all()  # type: ignore[call-overload]
    assert sorted(rows) == [(project, 1) for project in projects]
