"""Faults of the machine: every one is a single line on stderr that names the file and the fix, exit 2, no
traceback; and what SMA keeps on disk is private. Runs the real `sma` command as a subprocess."""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sma.db.migrate import upgrade
from sma.environment import private_logs
from sma.logging import configure_logging, get_logger, reset_logging
from sma.settings import Settings

REPO = Path(__file__).resolve().parents[1]
SMA = str(Path(sys.executable).parent / "sma")
UNREACHABLE = "127.0.0.1:1"  # Temporal refuses at once, so `sma status` falls back to the database


def sma(*args: str, cwd: Path, data_dir: Path, unprivileged: bool = False, **env: str) -> subprocess.CompletedProcess:
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "SMA_DATA_DIR": str(data_dir),
                "SMA_TEMPORAL__ADDRESS": UNREACHABLE, "SMA_SECRETS_FILE": "", "SMA_CONFIG": "", **env}
    command = [SMA, *args]
    if unprivileged and os.geteuid() == 0:
        # The tests run as root, whom no file mode stops: drop the capabilities that bypass permissions.
        command = ["setpriv", "--inh-caps=-all", "--bounding-set=-all", "--", *command]
    return subprocess.run(command, cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120)


def one_line_error(result: subprocess.CompletedProcess) -> str:
    """The single `error: ...` line a fault must produce, after checking exit code and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def migrated(tmp_path: Path) -> Path:
    data = tmp_path / "data"
    upgrade(Settings(data_dir=data).database_url)
    return data


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    reset_logging()
    root.handlers[:] = handlers
    root.setLevel(level)


# ---------------------------------------------------------------- private data


def test_data_dir_and_logs_are_private(tmp_path: Path, restore_logging: None) -> None:
    fresh = tmp_path / "fresh"
    result = sma("db", "upgrade", cwd=tmp_path, data_dir=fresh)
    assert result.returncode == 0, result.stderr
    assert mode(fresh) == 0o700 and mode(fresh / "logs") == 0o700
    assert mode(fresh / "sma.db") == 0o600

    # An install made before: readable data dir, logs dir and a dashboard.log with the setup link in it.
    old = tmp_path / "old"
    (old / "logs").mkdir(parents=True)
    old.chmod(0o755)
    (old / "logs").chmod(0o755)
    (old / "logs" / "dashboard.log").write_text("setup?token=abc\n")
    (old / "logs" / "dashboard.log").chmod(0o644)
    assert sma("db", "upgrade", cwd=tmp_path, data_dir=old).returncode == 0
    assert (mode(old), mode(old / "logs"), mode(old / "logs" / "dashboard.log")) == (0o700, 0o700, 0o600)

    # Explicit modes, not only the `sma` command's umask: the same in this process, whose umask is 022.
    previous = os.umask(0o022)
    try:
        inproc = tmp_path / "inproc"
        configure_logging(Settings(data_dir=inproc))
        get_logger("sma.test").warning("first record")
        for handler in logging.getLogger().handlers:
            handler.flush()
        assert mode(inproc) == 0o700 and mode(inproc / "logs") == 0o700
        assert mode(inproc / "logs" / "sma.jsonl") == 0o600
        upgrade(Settings(data_dir=inproc).database_url)
        assert mode(inproc / "sma.db") == 0o600
        assert mode(private_logs(tmp_path / "other")) == 0o700
    finally:
        os.umask(previous)


# ---------------------------------------------------------------- the database


def test_corrupt_database_gives_one_line_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "sma.db").write_bytes(os.urandom(8192))
    token = {"SMA_SECRETS__TELEGRAM_BOT_TOKEN": "123456:" + "a" * 35}
    # Every command, and every process `sma up` runs (workers, dashboard, bot), stops at start-up.
    for command in (["db", "upgrade"], ["status", "some-run"], ["worker", "--queue", "sma-workflows"],
                    ["dashboard"], ["bot"], ["up"]):
        line = one_line_error(sma(*command, cwd=tmp_path, data_dir=data, **token))
        assert f"database {data / 'sma.db'} is not an SQLite database" in line, (command, line)
        assert "restore it from a backup" in line and "move sma.db, sma.db-wal and sma.db-shm aside" in line
    assert (data / "sma.db").stat().st_size == 8192  # nothing was written over it


def test_truncated_database_gives_one_line_error(tmp_path: Path, migrated: Path) -> None:
    db = migrated / "sma.db"
    size = db.stat().st_size
    with db.open("r+b") as file:
        file.truncate(size // 2)
    line = one_line_error(sma("status", "some-run", cwd=tmp_path, data_dir=migrated))
    assert f"database {db} is truncated ({size // 2} of {size} bytes)" in line


def test_damage_found_during_use_gives_the_same_line(tmp_path: Path, migrated: Path) -> None:
    """A whole header but garbage pages: SQLite's own "malformed" error, from deep inside a command."""
    db = migrated / "sma.db"
    connection = sqlite3.connect(db)
    try:
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every page in the file, none in the WAL
        roots = [r for (r,) in connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE tbl_name = 'pipeline_runs' AND rootpage > 0")]
    finally:
        connection.close()
    raw = bytearray(db.read_bytes())
    page_size = int.from_bytes(raw[16:18], "big")
    for root in roots:  # the runs table and its indexes only: the schema still reads
        start = (root - 1) * page_size
        raw[start:start + page_size] = b"\xa5" * page_size
    db.write_bytes(bytes(raw))
    line = one_line_error(sma("status", "some-run", cwd=tmp_path, data_dir=migrated))
    assert f"database {db} is damaged" in line and "restore it from a backup" in line


def test_status_on_unmigrated_data_dir_creates_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    line = one_line_error(sma("status", "some-run", cwd=tmp_path, data_dir=data))
    assert line == f"error: no SMA database at {data / 'sma.db'}; run `sma up` or `sma db upgrade`"
    assert list(data.iterdir()) == []
    # A data dir that does not exist yet stays that way; an empty sma.db left by an older version stays empty.
    missing = tmp_path / "missing"
    assert "no SMA database at" in one_line_error(sma("status", "x", cwd=tmp_path, data_dir=missing))
    assert not missing.exists()
    (data / "sma.db").touch()
    assert "no SMA database at" in one_line_error(sma("status", "x", cwd=tmp_path, data_dir=data))
    assert sorted(p.name for p in data.iterdir()) == ["sma.db"] and (data / "sma.db").stat().st_size == 0


# ---------------------------------------------------------------- permissions


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root needs setpriv")
def test_unwritable_data_dir_clear_error(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    data.chmod(0o500)
    try:
        for command in (["config", "check"], ["db", "upgrade"], ["status", "x"]):
            line = one_line_error(sma(*command, cwd=tmp_path, data_dir=data, unprivileged=True))
            assert f"data dir {data} is not writable" in line and "permission denied" in line, line
            assert f"chmod u+rwx {data}" in line
        inside = data / "new"
        line = one_line_error(sma("db", "upgrade", cwd=tmp_path, data_dir=inside, unprivileged=True))
        assert f"parent folder {data} is not writable" in line
        assert list(data.iterdir()) == []
    finally:
        data.chmod(0o700)
    db = data / "sma.db"  # a writable folder, but a database this user may not read
    upgrade(Settings(data_dir=data).database_url)
    db.chmod(0)
    line = one_line_error(sma("status", "x", cwd=tmp_path, data_dir=data, unprivileged=True))
    assert line.startswith(f"error: {db}: permission denied for user ") and f"chmod u+rw {db}" in line


# ---------------------------------------------------------------- configuration files


def test_non_utf8_config_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_bytes(b"temporal:\n  namespace: caf\xe9\n")
    line = one_line_error(sma("--config", str(config), "config", "check", cwd=tmp_path, data_dir=tmp_path / "d"))
    assert line == (f"error: {config}: not UTF-8 text: byte 26 (0xe9, line 2) cannot be decoded; "
                    "save the file as UTF-8")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_bytes(b"\xff\xfeo\x00p\x00")  # saved as UTF-16
    line = one_line_error(sma("--secrets", str(secrets), "config", "check", cwd=tmp_path, data_dir=tmp_path / "d"))
    assert f"{secrets}: not UTF-8 text: byte 0 (0xff" in line


def test_data_dir_wrong_type_names_key(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("data_dir: [1, 2]\n")
    result = sma("--config", str(config), "config", "check", cwd=tmp_path, data_dir=tmp_path / "d",
                 SMA_DATA_DIR="")
    line = one_line_error(result)
    assert f"{config}: data_dir: must be a folder path" in line and "list" in line


def test_inline_secret_refused_even_with_secrets_file(tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text("secrets:\n  openai_api_key: sk-inline-0123456789abcdef\n")
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("admin_password: long-enough-password\n")
    line = one_line_error(sma("--config", str(config), "--secrets", str(secrets), "config", "check",
                              cwd=tmp_path, data_dir=tmp_path / "d"))
    assert f"{config}: secrets:" in line and "openai_api_key" in line and str(secrets) in line
    assert "sk-inline" not in line


def test_fault_lines_without_a_subprocess(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """typer's runner (how most CLI tests call `sma`) gets the same line as the real command."""
    from typer.testing import CliRunner

    from sma.cli import app

    monkeypatch.chdir(tmp_path)
    data = tmp_path / "data"
    data.mkdir()
    (data / "sma.db").write_bytes(b"not a database at all" * 10)
    result = CliRunner().invoke(app, ["status", "x"], env={"SMA_DATA_DIR": str(data),
                                                           "SMA_TEMPORAL__ADDRESS": UNREACHABLE})
    assert result.exit_code == 2 and "is not an SQLite database" in result.output


def test_sqlite_errors_from_inside_a_command_become_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import DBAPIError

    from sma.cli import main as cli

    db = tmp_path / "sma.db"
    monkeypatch.setattr(cli._state, "database_url", f"sqlite+aiosqlite:///{db}")
    engine = create_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as connection, pytest.raises(DBAPIError) as unmigrated:
            connection.execute(text("SELECT * FROM pipeline_runs"))
    finally:
        engine.dispose()
    line = cli.fault_line(unmigrated.value)
    assert line is not None and f"the SMA database at {db} is not migrated" in line and "sma db upgrade" in line
    assert cli.fault_line(PermissionError(13, "Permission denied", str(db))) is not None
    assert cli.fault_line(ValueError("a bug")) is None  # bugs keep their traceback
