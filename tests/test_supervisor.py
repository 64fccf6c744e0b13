"""The supervisor of `sma up`: backoff and give-up policy, the one-per-data-dir lock, no orphans, clear errors."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sma import queues
from sma.runtime import DevServer, Stack, die_with_parent, free_port, port_in_use_message
from sma.settings import ConfigError, Settings
from sma.supervisor import (
    AlreadyRunning,
    GaveUp,
    RestartPolicy,
    RestartTracker,
    Supervisor,
    UpLock,
)

REPO = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- policy


def test_backoff_doubles_up_to_the_cap_and_gives_up_past_the_limit() -> None:
    tracker = RestartTracker(RestartPolicy(base_delay_s=1, factor=2, max_delay_s=5, max_restarts=4, window_s=100))
    decisions = [tracker.on_exit(now) for now in (0, 1, 2, 3)]
    assert [d.delay_s for d in decisions] == [1, 2, 4, 5]
    assert [d.restarts for d in decisions] == [1, 2, 3, 4] and all(d.restart for d in decisions)
    final = tracker.on_exit(4)
    assert not final.restart and final.restarts == 4


def test_a_child_that_stays_up_past_the_window_starts_again_at_the_base_delay() -> None:
    tracker = RestartTracker(RestartPolicy(base_delay_s=1, max_restarts=3, window_s=60))
    for now in (0, 10, 20):
        assert tracker.on_exit(now).restart
    again = tracker.on_exit(200)  # long after the window: the crash loop is over
    assert again.restart and again.delay_s == 1 and again.restarts == 1


# ---------------------------------------------------------------- the loop, over fake children


@dataclass
class FakeChildren:
    """Children that die when told to; restarts are recorded, and can be made to fail."""

    dead: dict[str, int] = field(default_factory=dict)
    restarts: list[tuple[str, float]] = field(default_factory=list)
    forgotten: list[str] = field(default_factory=list)
    failing_starts: int = 0
    clock: list[float] = field(default_factory=lambda: [0.0])

    def check(self) -> list[str]:
        return list(self.dead)

    def exit_code(self, name: str) -> int | None:
        return self.dead.get(name)

    def log_path(self, name: str) -> Path:
        return Path("/srv/sma-data/logs") / f"{name}.log"

    def restart(self, name: str) -> None:
        self.restarts.append((name, self.clock[0]))
        if self.failing_starts:
            self.failing_starts -= 1
            raise RuntimeError("temporal dev server exited with 1; see /srv/sma-data/logs/temporal.log")
        del self.dead[name]

    def forget(self, name: str) -> None:
        self.forgotten.append(name)
        del self.dead[name]


def _supervisor(children: FakeChildren, warnings: list[str], **policy: float) -> Supervisor:
    return Supervisor(children, warn=warnings.append, policy=RestartPolicy(**policy),  # type: ignore[arg-type]
                      clock=lambda: children.clock[0])


def _advance(supervisor: Supervisor, children: FakeChildren, until: float, step: float = 0.5) -> None:
    while children.clock[0] < until:
        children.clock[0] += step
        supervisor.step()


def test_a_dead_worker_is_restarted_after_its_backoff_not_before() -> None:
    children, warnings = FakeChildren(), []
    supervisor = _supervisor(children, warnings)
    children.dead["sma-cpu"] = -9
    supervisor.step()
    assert children.restarts == [] and "restart 1 of 5 in 1 s" in warnings[0]
    _advance(supervisor, children, 1.0)
    assert children.restarts == [("sma-cpu", 1.0)]
    children.dead["sma-cpu"] = 1
    supervisor.step()
    _advance(supervisor, children, 2.5)
    assert len(children.restarts) == 1  # the second restart waits 2 s
    _advance(supervisor, children, 3.0)
    assert children.restarts[-1] == ("sma-cpu", 3.0)


def test_a_worker_that_keeps_dying_gives_up_in_one_line_with_exit_code_and_log() -> None:
    children, warnings = FakeChildren(), []
    supervisor = _supervisor(children, warnings, base_delay_s=0.5, max_restarts=2, window_s=60)
    children.dead["sma-gpu"] = 3
    with pytest.raises(GaveUp) as caught:
        for _ in range(20):
            children.dead.setdefault("sma-gpu", 3)
            _advance(supervisor, children, children.clock[0] + 1)
    line = str(caught.value)
    assert "\n" not in line
    assert line == ("worker sma-gpu gave up after 2 restarts in 60 s (last exit code 3); "
                    "see /srv/sma-data/logs/sma-gpu.log")
    assert len(children.restarts) == 2


def test_a_crash_looping_dashboard_is_dropped_and_the_rest_keeps_running() -> None:
    children, warnings = FakeChildren(), []
    supervisor = _supervisor(children, warnings, base_delay_s=0.5, max_restarts=1, window_s=60)
    for _ in range(5):
        if "dashboard" not in children.forgotten:
            children.dead.setdefault("dashboard", 1)
        _advance(supervisor, children, children.clock[0] + 1)
    assert children.forgotten == ["dashboard"]
    assert warnings[-1].startswith("dashboard gave up after 1 restarts") and "the rest keeps running" in warnings[-1]


def test_a_dev_server_that_cannot_start_again_counts_as_an_exit() -> None:
    children, warnings = FakeChildren(failing_starts=1), []
    supervisor = _supervisor(children, warnings)
    children.dead["temporal"] = -9
    supervisor.step()
    _advance(supervisor, children, 1.0)
    assert "the Temporal dev server did not start again" in warnings[1]
    assert "restart 2 of 5 in 2 s" in warnings[2]
    _advance(supervisor, children, 3.0)
    assert [name for name, _ in children.restarts] == ["temporal", "temporal"] and not children.dead


# ---------------------------------------------------------------- one `sma up` per data dir


def test_a_second_lock_says_already_running_with_the_pid(tmp_path: Path) -> None:
    first = UpLock.acquire(tmp_path)
    try:
        with pytest.raises(AlreadyRunning) as caught:
            UpLock.acquire(tmp_path)
        assert f"sma up is already running (pid {os.getpid()})" in str(caught.value)
        assert str(tmp_path.resolve()) in str(caught.value)
    finally:
        first.release()
    UpLock.acquire(tmp_path).release()  # released: free again


def test_the_lock_of_a_killed_sma_up_is_free_at_once(tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from pathlib import Path; from sma.supervisor import UpLock;"
         f"UpLock.acquire(Path({str(tmp_path)!r})); print('locked', flush=True); time.sleep(60)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with pytest.raises(AlreadyRunning, match=f"pid {holder.pid}"):
            UpLock.acquire(tmp_path)
    finally:
        holder.kill()
        holder.wait()
    UpLock.acquire(tmp_path).release()


def test_sma_up_refuses_a_second_start_on_the_same_data_dir(tmp_path: Path) -> None:
    lock = UpLock.acquire(tmp_path / "data")
    try:
        done = subprocess.run([sys.executable, "-m", "sma.cli", "up"], cwd=REPO, capture_output=True, text=True,
                              env=dict(os.environ, SMA_DATA_DIR=str(tmp_path / "data")), timeout=120)
    finally:
        lock.release()
    assert done.returncode == 1
    assert f"already running (pid {os.getpid()})" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- orphans and taken ports


def test_a_child_dies_when_its_parent_is_killed_9() -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", "import subprocess, time; from sma.runtime import die_with_parent;"
         "child = subprocess.Popen(['sleep', '120'], preexec_fn=die_with_parent(), start_new_session=True);"
         "print(child.pid, flush=True); time.sleep(120)"],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    assert die_with_parent() is not None
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 10
    while _alive(child):
        assert time.monotonic() < deadline, f"pid {child} outlived its parent"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_a_taken_dev_server_port_names_the_process_holding_it(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        message = port_in_use_message(port, "temporal.dev_server_port")
        assert message.startswith(f"port {port} is already in use by pid {os.getpid()} (")
        assert "kill" in message and "temporal.dev_server_port" in message and "\n" not in message
        with pytest.raises(ConfigError, match=f"port {port} is already in use by pid {os.getpid()}"):
            DevServer(tmp_path, port, 0, ui=False).start()
        with pytest.raises(ConfigError, match=rf"port {port} is already in use by pid \d+ .* temporal.ui_port"):
            DevServer(tmp_path, free_port(), port, ui=True).start()


def test_sma_up_reports_a_taken_port_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        env = dict(os.environ, SMA_DATA_DIR=str(tmp_path / "data"), SMA_TEMPORAL__DEV_SERVER_PORT=str(port),
                   SMA_DASHBOARD__ENABLED="false")
        done = subprocess.run([sys.executable, "-m", "sma.cli", "up"], cwd=REPO, capture_output=True, text=True,
                              env=env, timeout=120)
    assert done.returncode == 1
    assert "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert errors == [errors[0]] and f"port {port} is already in use by pid {os.getpid()}" in errors[0]
    UpLock.acquire(tmp_path / "data").release()  # `sma up` let go of the data dir


def test_a_worker_that_dies_while_the_stack_starts_fails_the_start_at_once(tmp_path: Path) -> None:
    broken = tmp_path / "config.yaml"
    broken.write_text("pipeline: [not, a, mapping]\n")
    settings = Settings(data_dir=tmp_path / "data")
    started = time.monotonic()
    with pytest.raises(RuntimeError) as caught, \
            Stack(settings, config_path=str(broken), worker_queues=(queues.CPU,), ephemeral_ports=True):
        pass
    log = (tmp_path / "data" / "logs" / f"worker-{queues.CPU}.log").resolve()
    assert str(caught.value) == f"worker {queues.CPU} exited with code 2 while starting; see {log}"
    assert time.monotonic() - started < 60
    assert "pipeline" in log.read_text()
