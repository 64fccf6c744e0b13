"""A database server as `database.url`: each way it can be unusable is one line naming the server and the fix
(never the password), from the check at a command's start and from anywhere inside a command; and `sma db
upgrade` / `sma status` work end to end on a real PostgreSQL server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from sma.db.check import check_database_file, check_server, describe_exception
from sma.environment import EnvironmentFault
from tests.pg_server import PostgresServer, free_port

REPO = Path(__file__).resolve().parents[1]
SMA = str(Path(sys.executable).parent / "sma")


def sma(*args: str, tmp_path: Path, url: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "SMA_DATA_DIR": str(tmp_path / "data"), "SMA_CONFIG": "",
           "SMA_SECRETS_FILE": "", "SMA_TEMPORAL__ADDRESS": "127.0.0.1:1", "SMA_DATABASE__URL": url}
    return subprocess.run([SMA, *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


def one_line(fault: EnvironmentFault) -> str:
    line = str(fault)
    assert "\n" not in line and "secret" not in line, line
    return line


def test_unreachable_server_is_one_line_with_host_and_port() -> None:
    port = free_port()
    with pytest.raises(EnvironmentFault) as caught:
        check_server(f"postgresql+asyncpg://sma:secret@127.0.0.1:{port}/sma")
    line = one_line(caught.value)
    assert f"postgresql server 127.0.0.1:{port}/sma cannot be reached" in line and "database.url" in line


def test_missing_driver_names_the_package() -> None:
    with pytest.raises(EnvironmentFault) as caught:
        check_database_file("postgresql+pg8000://sma:secret@127.0.0.1:5432/sma")
    assert "needs the pg8000 driver, which is not installed: pip install pg8000" in one_line(caught.value)


def test_async_driver_errors_inside_a_command_become_the_same_line() -> None:
    """asyncpg raises a plain OSError for a refused connection; the CLI's fault line finds it all the same."""
    url = "postgresql+asyncpg://sma:secret@db.example:5433/sma"
    fault = describe_exception(ConnectionRefusedError(111, "Connect call failed ('10.0.0.1', 5433)"), url)
    assert fault is not None and "postgresql server db.example:5433/sma cannot be reached" in one_line(fault)
    assert describe_exception(ModuleNotFoundError("No module named 'asyncpg'"), url) is None  # it is installed
    assert describe_exception(ConnectionRefusedError(111, "x"), "sqlite+aiosqlite:////tmp/x.db") is None


def test_missing_database_and_refused_login_on_a_real_server(postgres_server: PostgresServer) -> None:
    with pytest.raises(EnvironmentFault) as caught:
        check_server(postgres_server.url("nothere"))
    assert "has no database 'nothere'" in one_line(caught.value) and "createdb nothere" in str(caught.value)
    check_server(postgres_server.url("postgres"))  # the server is up and lets us in: no fault


def test_db_upgrade_and_status_on_postgresql(postgres_server: PostgresServer, tmp_path: Path) -> None:
    url = postgres_server.create_database()
    result = sma("db", "upgrade", tmp_path=tmp_path, url=url)
    assert result.returncode == 0, result.stderr
    assert "database at revision" in result.stdout and "None" not in result.stdout
    result = sma("status", "content-none", tmp_path=tmp_path, url=url)  # Temporal is down: read from the database
    assert "Traceback" not in result.stderr and "content-none" in result.stdout + result.stderr, result.stderr
    assert "cannot be reached" not in result.stderr and "not migrated" not in result.stderr


def test_sma_with_the_server_down_exits_with_one_line(tmp_path: Path) -> None:
    port = free_port()
    result = sma("db", "upgrade", tmp_path=tmp_path, url=f"postgresql+asyncpg://sma:secret@127.0.0.1:{port}/sma")
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and f"127.0.0.1:{port}/sma cannot be reached" in lines[0], result.stderr
    assert "secret" not in result.stderr
