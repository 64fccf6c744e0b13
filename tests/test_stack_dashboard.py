"""`sma up` serves the dashboard beside the workers, with the first-start setup link it printed."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from sma.cli.system import _say_dashboard
from sma.dashboard.config import DashboardSettings
from sma.runtime import DASHBOARD, Stack, free_port, port_open
from sma.settings import Settings, TemporalSettings


def _wait_open(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not port_open(port):
        assert time.monotonic() < deadline, f"nothing listens on {port}"
        time.sleep(0.2)


def test_the_stack_serves_the_dashboard_with_the_setup_link(tmp_path: Path) -> None:
    port = free_port()
    settings = Settings(data_dir=tmp_path / "data", dashboard=DashboardSettings(port=port))
    with Stack(settings, worker_queues=(), ephemeral_ports=True, dashboard=True, setup_token="first-start") as stack:
        assert DASHBOARD in stack.workers
        _wait_open(port)
        setup = httpx.get(f"http://127.0.0.1:{port}/setup?token=first-start")
        assert setup.status_code == 200 and 'value="first-start"' in setup.text
        assert httpx.get(f"http://127.0.0.1:{port}/login").headers["location"].endswith("/setup")
        # A second stack finds the port taken and leaves the dashboard out instead of restarting it forever.
        assert not Stack(settings, worker_queues=(), dashboard=True).dashboard_enabled
    assert (settings.data_dir / "logs" / "dashboard.log").exists()


def test_setup_link_never_written_to_log_files(tmp_path: Path, client: Client,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """The link claims the admin password: it goes to the console of whoever ran `sma up`, never to a file."""
    port, token = free_port(), "link-token-0123456789abcdef"
    address = client.service_client.config.target_host
    settings = Settings(data_dir=tmp_path / "data", dashboard=DashboardSettings(port=port),
                        temporal=TemporalSettings(address=address))
    with Stack(settings, worker_queues=(), dashboard=True, setup_token=token) as stack:
        _wait_open(port)
        assert httpx.get(f"http://127.0.0.1:{port}/setup?token={token}").status_code == 200
        _say_dashboard(settings, stack)
        proc_status = Path(f"/proc/{stack.workers[DASHBOARD].pid}/status")
        if proc_status.exists():  # what the processes of `sma up` create (artifacts too) is private
            umask = next(line for line in proc_status.read_text().splitlines() if line.startswith("Umask:"))
            assert int(umask.split()[1], 8) & 0o077 == 0o077
    assert f"/setup?token={token}" in capsys.readouterr().out  # `sma up`'s console
    logs = settings.data_dir / "logs"
    assert "setup link printed on the console" in (logs / "dashboard.log").read_text()
    written = [p for p in settings.data_dir.rglob("*") if p.is_file() and token.encode() in p.read_bytes()]
    assert written == []


def test_dashboard_can_be_left_out(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", dashboard=DashboardSettings(port=free_port(), enabled=False))
    assert not Stack(settings, dashboard=True).dashboard_enabled
    default = Settings(data_dir=tmp_path / "d2", dashboard=DashboardSettings(port=free_port()))
    assert not Stack(default).dashboard_enabled  # tests and `sma demo` run no dashboard
