"""Benchmark: how many videos an hour one machine makes, with one and with two CPU worker processes.

    python bench/throughput.py [--runs 4] [--seconds 15] [--cpu-workers 1 2] [--data-dir bench/out/throughput]

For each CPU-worker count: a fresh embedded stack (dev server, workflows and GPU workers, N CPU worker
processes), `--runs` short autonomous runs started at once, each to the local outbox. Printed per setting:
videos per hour (runs / wall from first start to last finish), p50/p95 run time, peak resident memory of the
whole process tree (server, workers, FFmpeg children; sampled every 0.5 s), and the wait share (workflow
wall minus the union of activity executions, over workflow wall, averaged): Temporal's orchestration plus,
with runs started together, the time a step waits for a free worker slot. Ratios are against the
first setting, measured in the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import TOPIC, history_timings

from sma import queues
from sma.client import RunClient
from sma.db.engine import Database
from sma.models.pipeline import Topic
from sma.runtime import Stack
from sma.services.runs import new_run_input
from sma.settings import PipelineSettings, Settings
from sma.temporal_client import connect


@dataclass
class Outcome:
    cpu_workers: int
    runs: int
    published: int
    wall_s: float
    run_s: list[float]
    overhead: list[float]
    peak_rss_mb: float

    @property
    def per_hour(self) -> float:
        return 3600 * self.published / self.wall_s if self.wall_s else 0.0


class PeakMemory:
    """Peak summed RSS of this process's children and their descendants, sampled in a thread."""

    def __init__(self, every_s: float = 0.5) -> None:
        self.every_s, self.peak = every_s, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for proc in me.children(recursive=True):
                try:
                    total += proc.memory_info().rss
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self._stop.wait(self.every_s)


async def _produce(settings: Settings, stack: Stack, runs: int) -> tuple[float, list[tuple[str, float, float]]]:
    client = await connect(stack.address, settings.temporal.namespace, attempts=120, settings=settings)
    database = Database(settings.database_url)
    try:
        runner = RunClient(client, settings, database)
        began = time.perf_counter()
        ids = []
        for n in range(runs):
            topic = Topic(title=f"{TOPIC.title} ({n + 1})", summary=TOPIC.summary)
            inp = await new_run_input(settings, database, topic, settings.projects[0].id, entry="bench",
                                      autonomy="autonomous")
            ids.append((await runner.start_input(inp, force=True)).workflow_id)
        statuses = await asyncio.gather(*(runner.wait(i, timedelta(minutes=60)) for i in ids))
        wall = time.perf_counter() - began
        measured = []
        for status in statuses:
            run_wall, busy, _ = await history_timings(client, status.workflow_id)
            measured.append((status.state.value, run_wall, (run_wall - busy) / run_wall if run_wall else 0.0))
        return wall, measured
    finally:
        await database.close()


def measure(data_dir: Path, cpu_workers: int, runs: int, seconds: float) -> Outcome:
    shutil.rmtree(data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir, pipeline=PipelineSettings(target_seconds=seconds))
    extra: list[subprocess.Popen] = []
    with PeakMemory() as memory, Stack(settings, ephemeral_ports=True) as stack:
        for _ in range(cpu_workers - 1):
            extra.append(subprocess.Popen([sys.executable, "-m", "sma.cli", "worker", "--queue", queues.CPU],
                                          env=stack.worker_env(), stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL))
        try:
            wall, measured = asyncio.run(_produce(settings, stack, runs))
        finally:
            for proc in extra:
                proc.terminate()
                proc.wait(timeout=30)
    return Outcome(cpu_workers, runs, sum(1 for state, _, _ in measured if state == "published"), wall,
                   [w for _, w, _ in measured], [o for _, _, o in measured], memory.peak / 2**20)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def table(outcomes: list[Outcome]) -> str:
    base = outcomes[0]
    lines = ["| CPU workers | runs published | wall s | videos / h | x base | p50 run s | p95 run s | "
             "peak RSS MB | wait share |", "|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for o in outcomes:
        ratio = o.per_hour / base.per_hour if base.per_hour else 0.0
        lines.append(f"| {o.cpu_workers} | {o.published}/{o.runs} | {o.wall_s:.1f} | {o.per_hour:.1f} | "
                     f"{ratio:.2f} | {statistics.median(o.run_s):.1f} | {_pct(o.run_s, 0.95):.1f} | "
                     f"{o.peak_rss_mb:.0f} | {100 * statistics.fmean(o.overhead):.1f} % |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=4, help="runs started at once per setting")
    parser.add_argument("--seconds", type=float, default=15.0, help="target script length")
    parser.add_argument("--cpu-workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--data-dir", default="bench/out/throughput")
    args = parser.parse_args()
    outcomes = [measure(Path(args.data_dir) / f"cpu{n}", n, args.runs, args.seconds) for n in args.cpu_workers]
    print(f"\n{args.runs} runs of ~{args.seconds:.0f} s at once per setting, {psutil.cpu_count()} cores\n")
    print(table(outcomes))


if __name__ == "__main__":
    main()
