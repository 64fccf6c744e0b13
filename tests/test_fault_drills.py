"""Fault drills: a real `sma up` process on its own data dir and ports, a real run, and one thing killed -9.

Each drill ends the same way: the run is published exactly once (one post, one outbox video), `sma up` stops
cleanly on SIGTERM, no process that mentions the drill's data dir is left, and no scratch file either.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from temporalio.client import Client, WorkflowExecutionStatus

from sma import queues
from sma.client.handles import query_status, start_pipeline
from sma.models.pipeline import PipelineResult, PipelineStatus, RunState, StepState, Topic
from sma.runtime import free_port, port_open
from sma.services.runs import pipeline_input
from sma.settings import Settings, load_settings
from sma.temporal_client import connect
from tests.test_crash_recovery import _render_attempts

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
TOPIC = Topic(title="Supervised stacks", summary="Processes die. The supervisor brings them back. Runs finish once.")


def _state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def processes_mentioning(needle: str) -> dict[int, str]:
    """Live processes whose command line or environment names `needle` (the drill's data dir)."""
    found: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            environ = (entry / "environ").read_bytes()
            if _state(int(entry.name)) == "Z":
                continue
        except OSError:
            continue
        if needle.encode() in cmdline or needle.encode() in environ:
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace").strip()
    return found


@dataclass
class Drill:
    """One isolated installation: data dir, config file with free ports, the `sma up` processes started."""

    root: Path
    dashboard: bool = False
    ups: list[subprocess.Popen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.data_dir = (self.root / "data").resolve()
        self.port = free_port()
        self.config = self.root / "config.yaml"
        self.config.write_text(yaml.safe_dump({
            "data_dir": str(self.data_dir),
            "temporal": {"dev_server_port": self.port, "ui": False},
            "dashboard": {"enabled": self.dashboard, "port": free_port()},
            "pipeline": {"target_seconds": 7},
            "projects": [{"id": "test", "niche": "developer tools"}],
        }))
        self.settings: Settings = load_settings(str(self.config), data_dir=str(self.data_dir))
        self.address = f"127.0.0.1:{self.port}"

    @property
    def up(self) -> subprocess.Popen:
        return self.ups[-1]

    def up_log(self, index: int = -1) -> str:
        return (self.root / f"up-{len(self.ups) + index if index < 0 else index}.log").read_text(errors="replace")

    def start_up(self, timeout: float = 400.0) -> subprocess.Popen:
        log = open(self.root / f"up-{len(self.ups)}.log", "wb")  # noqa: SIM115 - the child writes it
        env = {k: v for k, v in os.environ.items() if not k.startswith("SMA_")}
        proc = subprocess.Popen([sys.executable, "-m", "sma.cli", "-c", str(self.config), "up"], cwd=REPO,
                                env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.ups.append(proc)
        deadline = time.monotonic() + timeout
        while "SMA is up" not in self.up_log():
            assert proc.poll() is None, f"sma up exited with {proc.returncode}:\n{self.up_log()}"
            assert time.monotonic() < deadline, f"sma up not up after {timeout:.0f} s:\n{self.up_log()}"
            time.sleep(0.5)
        return proc

    def child(self, marker: str) -> int:
        """The pid of the one child whose command line contains `marker`."""
        pids = [pid for pid, cmd in processes_mentioning(str(self.data_dir)).items()
                if marker in cmd and pid != self.up.pid]
        assert len(pids) == 1, f"{marker!r}: {pids}"
        return pids[0]

    def call(self, fn: Callable[[Client], Coroutine[Any, Any, Any]]) -> Any:
        """One call on a fresh connection: the server may have been restarted since the last one."""
        async def go() -> Any:
            return await fn(await connect(self.address, self.settings.temporal.namespace))

        return asyncio.run(go())

    def start_run(self) -> str:
        inp = pipeline_input(self.settings, TOPIC, "test", autonomy="autonomous")
        return self.call(lambda client: start_pipeline(client, inp))

    def wait_status(self, wf_id: str, predicate: Callable[[PipelineStatus], bool], timeout: float = 400) -> None:
        deadline = time.monotonic() + timeout
        last: PipelineStatus | None = None
        while True:
            with contextlib.suppress(Exception):  # the server or the workflow worker is down right now
                last = self.call(lambda client: query_status(client, wf_id))
            if last is not None and predicate(last):
                return
            assert time.monotonic() < deadline, f"timed out; last status: {last}"
            time.sleep(0.25)

    def wait_finished(self, wf_id: str, timeout: float = 600) -> PipelineResult:
        async def closed(client: Client) -> WorkflowExecutionStatus | None:
            return (await client.get_workflow_handle(wf_id).describe()).status

        deadline = time.monotonic() + timeout
        while True:
            try:
                state = self.call(closed)
            except Exception:
                state = None
            if state not in (None, WorkflowExecutionStatus.RUNNING):
                break
            assert time.monotonic() < deadline, f"run {wf_id} not finished after {timeout:.0f} s"
            time.sleep(1)
        return self.call(lambda client: client.get_workflow_handle(wf_id, result_type=PipelineResult).result())

    def stop_up(self) -> None:
        self.up.send_signal(signal.SIGTERM)
        assert self.up.wait(timeout=120) == 0, self.up_log()

    def render_attempts(self, wf_id: str) -> int:
        return max(self.call(lambda client: _render_attempts(client, wf_id)))

    def assert_published_once_and_clean(self, wf_id: str, result: PipelineResult) -> None:
        assert result.state == RunState.PUBLISHED, result.status.error
        for index in range(len(self.ups)):
            assert "Traceback" not in self.up_log(index), self.up_log(index)
        with sqlite3.connect(self.data_dir / "sma.db") as db:
            posts = db.execute("select run_id, platform, status from posts").fetchall()
        assert posts == [(wf_id, "local", "published")], posts
        assert len(list((self.data_dir / "outbox").rglob("video.mp4"))) == 1
        self.assert_no_orphans(timeout=30)
        leftovers = list((self.data_dir / "artifacts" / "tmp").iterdir())
        assert leftovers == [], leftovers

    def assert_no_orphans(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while left := processes_mentioning(str(self.data_dir)):
            assert time.monotonic() < deadline, f"processes left after {timeout:.0f} s: {left}"
            time.sleep(0.1)

    def cleanup(self) -> None:
        """Whatever a failed drill left: kill it, so the next test starts clean."""
        for pid in processes_mentioning(str(self.data_dir)):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        for proc in self.ups:
            if proc.poll() is None:
                proc.kill()
            proc.wait()


@pytest.fixture
def drill(tmp_path: Path) -> Any:
    d = Drill(tmp_path)
    yield d
    d.cleanup()


@pytest.fixture
def drill_with_dashboard(tmp_path: Path) -> Any:
    d = Drill(tmp_path, dashboard=True)
    yield d
    d.cleanup()


def _rendering(status: PipelineStatus) -> bool:
    return status.steps["render"].state == StepState.RUNNING


def test_kill_9_of_sma_up_takes_its_children_and_a_new_sma_up_finishes_the_run(drill_with_dashboard: Drill) -> None:
    drill = drill_with_dashboard
    first = drill.start_up()
    children = {pid: cmd for pid, cmd in processes_mentioning(str(drill.data_dir)).items() if pid != first.pid}
    assert any("start-dev" in cmd for cmd in children.values())
    assert sum("worker --queue" in cmd for cmd in children.values()) == len(queues.ALL)
    assert any(cmd.endswith("dashboard") for cmd in children.values()), children

    second = subprocess.run([sys.executable, "-m", "sma.cli", "-c", str(drill.config), "up"], cwd=REPO,
                            capture_output=True, text=True, timeout=120)
    assert second.returncode == 1 and f"already running (pid {first.pid})" in second.stderr, second.stderr

    wf_id = drill.start_run()
    drill.wait_status(wf_id, _rendering)
    os.kill(first.pid, signal.SIGKILL)
    first.wait()
    drill.assert_no_orphans(timeout=10)  # the dev server, the workers, the dashboard and ffmpeg

    drill.start_up()
    result = drill.wait_finished(wf_id)
    assert drill.render_attempts(wf_id) >= 2, "the kill must land during the render"
    drill.stop_up()
    drill.assert_published_once_and_clean(wf_id, result)


def test_kill_9_of_the_dev_server_is_restarted_and_the_run_finishes(drill: Drill) -> None:
    drill.start_up()
    server = drill.child("start-dev")
    wf_id = drill.start_run()
    drill.wait_status(wf_id, _rendering)
    os.kill(server, signal.SIGKILL)

    deadline = time.monotonic() + 60
    while "the Temporal dev server exited (exit code -9); restart 1 of 5 in 1 s" not in drill.up_log():
        assert time.monotonic() < deadline, drill.up_log()
        time.sleep(0.2)
    while not port_open(drill.port):
        assert time.monotonic() < deadline, drill.up_log()
        time.sleep(0.2)
    assert drill.child("start-dev") != server

    result = drill.wait_finished(wf_id)
    drill.stop_up()
    drill.assert_published_once_and_clean(wf_id, result)


def test_kill_9_of_a_worker_is_restarted_with_backoff_and_the_run_finishes(drill: Drill) -> None:
    drill.start_up()
    worker = drill.child(f"worker --queue {queues.CPU}")
    wf_id = drill.start_run()
    drill.wait_status(wf_id, _rendering)
    os.kill(worker, signal.SIGKILL)  # the worker alone: its ffmpeg dies with it

    line = f"worker {queues.CPU} exited (exit code -9); restart 1 of 5 in 1 s; see {drill.data_dir}/logs/"
    deadline = time.monotonic() + 60
    while line not in drill.up_log():
        assert time.monotonic() < deadline, drill.up_log()
        time.sleep(0.2)
    while True:
        try:
            replacement = drill.child(f"worker --queue {queues.CPU}")
            break
        except AssertionError:
            assert time.monotonic() < deadline, drill.up_log()
            time.sleep(0.2)
    assert replacement != worker

    result = drill.wait_finished(wf_id)
    assert drill.render_attempts(wf_id) >= 2, "the kill must land during the render"
    drill.stop_up()
    drill.assert_published_once_and_clean(wf_id, result)


def test_sigterm_while_sma_up_starts_stops_everything_it_started(drill: Drill) -> None:
    log = open(drill.root / "up-0.log", "wb")  # noqa: SIM115 - the child writes it
    up = subprocess.Popen([sys.executable, "-m", "sma.cli", "-c", str(drill.config), "up"], cwd=REPO,
                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    log.close()
    drill.ups.append(up)
    deadline = time.monotonic() + 120
    while not any("worker --queue" in cmd for cmd in processes_mentioning(str(drill.data_dir)).values()):
        assert up.poll() is None and time.monotonic() < deadline, drill.up_log()
        time.sleep(0.1)
    assert "SMA is up" not in drill.up_log()
    up.send_signal(signal.SIGTERM)
    assert up.wait(timeout=120) == 0, drill.up_log()
    assert "Traceback" not in drill.up_log(), drill.up_log()
    drill.assert_no_orphans(timeout=5)
