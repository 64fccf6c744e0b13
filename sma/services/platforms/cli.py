"""Commands of publishing and analytics (issue 7): `sma credentials ...`, `sma secrets rotate`, `sma stats`.

Credential values are read from stdin (JSON or KEY=VALUE lines) or typed at hidden prompts, never taken
from the command line (argv ends up in shell history and `ps`), and never printed back.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import typer
from pydantic import SecretStr

from sma.services.platforms.credentials import FIELDS, CredentialError, Credentials, FieldSpec, parse_time
from sma.settings import ConfigError, Settings

T = TypeVar("T")

credentials_app = typer.Typer(no_args_is_help=True, help="Platform credentials, stored encrypted in the database.")
secrets_app = typer.Typer(no_args_is_help=True, help="The Fernet key that encrypts stored credentials.")


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def _settings() -> Settings:
    from sma.cli import settings

    return settings()


def _with_database(loaded: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(database)` on a migrated database; mapped errors become one red line."""
    from sma.db.engine import Database
    from sma.db.migrate import upgrade
    from sma.environment import private_dir

    private_dir(loaded.data_dir)
    upgrade(loaded.database_url)

    async def go() -> T:
        database = Database(loaded.database_url)
        try:
            return await work(database)
        finally:
            await database.close()

    try:
        return asyncio.run(go())
    except CredentialError as exc:
        _fail(str(exc), 1)
        raise


def _store(loaded: Settings, database: Any) -> Any:
    from sma.services.platforms.service import credential_store

    store = credential_store(loaded, database)
    if store is None:
        _fail("no Fernet key configured: run `sma secrets rotate` to create one")
    return store


# ---------------------------------------------------------------- reading values


def _parse_stdin(text: str, specs: tuple[FieldSpec, ...]) -> dict[str, str]:
    """A JSON object, or KEY=VALUE lines ('#' comments and blank lines ignored)."""
    text = text.strip()
    if text.startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise CredentialError(f"stdin is not valid JSON: {exc.msg}") from None
        if not isinstance(data, dict):
            raise CredentialError("stdin must hold one JSON object")
        values = {str(k): str(v) for k, v in data.items() if v is not None}
    else:
        values = {}
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            key, sep, value = line.partition("=")
            if not sep:
                raise CredentialError(f"stdin line {number}: expected KEY=VALUE")
            values[key.strip()] = value.strip()
    known = {s.name for s in specs}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CredentialError(f"unknown field(s) {', '.join(unknown)}; expected: {', '.join(sorted(known))}")
    return {k: v for k, v in values.items() if v}


def _prompt(specs: tuple[FieldSpec, ...]) -> dict[str, str]:
    values: dict[str, str] = {}
    for spec in specs:
        label = f"{spec.name}{'' if spec.required else ' (optional)'}" + (f" [{spec.help}]" if spec.help else "")
        value = typer.prompt(label, default="" if not spec.required else None, hide_input=spec.secret,
                             show_default=False)
        if value:
            values[spec.name] = value
    return values


def _read_values(platform: str) -> dict[str, str]:
    specs = FIELDS[platform]
    values = _parse_stdin(sys.stdin.read(), specs) if not sys.stdin.isatty() else _prompt(specs)
    missing = [s.name for s in specs if s.required and s.name not in values]
    if missing:
        raise CredentialError(f"missing required field(s) for {platform}: {', '.join(missing)}")
    return values


# ---------------------------------------------------------------- credentials


@credentials_app.command("set")
def set_credentials(
    project: Annotated[str, typer.Argument(help="project id from the config")],
    platform: Annotated[str, typer.Argument(help=f"one of {', '.join(FIELDS)}")],
    merge: Annotated[bool, typer.Option(help="keep stored fields that are not given")] = False,
) -> None:
    """Store credentials read from stdin (JSON or KEY=VALUE lines) or from hidden prompts."""
    if platform not in FIELDS:
        _fail(f"unknown platform {platform!r}; expected one of {', '.join(FIELDS)}")
    loaded = _settings()
    try:
        loaded.project(project)
    except ConfigError as exc:
        _fail(str(exc))
    if not loaded.secrets.fernet_key:  # say so before anyone types a secret
        _fail("no Fernet key configured: run `sma secrets rotate` to create one")
    try:
        values = _read_values(platform)
        expires_at = parse_time(values.pop("expires_at", None))
    except CredentialError as exc:
        _fail(str(exc))
        raise

    async def work(database: Any) -> list[str]:
        store = _store(loaded, database)
        creds = Credentials(project_id=project, platform=platform, expires_at=expires_at,
                            values={k: SecretStr(v) for k, v in values.items()})
        old = await store.get(project, platform) if merge else None
        if old is not None:
            creds = old.updated(expires_at=expires_at, **values)
        await store.put(creds)
        return sorted(creds.values)

    names = _with_database(loaded, work)
    typer.echo(f"stored {platform} credentials of project '{project}' (fields: {', '.join(names)})")


@credentials_app.command("list")
def list_credentials(project: Annotated[str | None, typer.Argument()] = None) -> None:
    """Which platforms have credentials, with field names and expiry (never the values)."""
    loaded = _settings()

    async def work(database: Any) -> list[tuple[str, str, str, str]]:
        store = _store(loaded, database)
        rows = await store.rows(project)
        return [(r.project_id, r.platform, ", ".join(await store.field_names(r)),
                 r.expires_at.isoformat(timespec="minutes") if r.expires_at else "-") for r in rows]

    rows = _with_database(loaded, work)
    if not rows:
        typer.echo("no stored credentials")
    for project_id, platform, fields, expires in rows:
        typer.echo(f"{project_id:<16} {platform:<11} expires {expires:<22} fields: {fields}")


@credentials_app.command("delete")
def delete_credentials(project: str, platform: str) -> None:
    """Forget the stored credentials of one platform of one project."""
    loaded = _settings()

    async def work(database: Any) -> bool:
        deleted: bool = await _store(loaded, database).delete(project, platform)
        return deleted

    if not _with_database(loaded, work):
        _fail(f"no {platform} credentials stored for project '{project}'", 1)
    typer.echo(f"deleted {platform} credentials of project '{project}'")


# ---------------------------------------------------------------- secrets


@secrets_app.command("rotate")
def rotate_secrets(
    keep_old: Annotated[bool, typer.Option(help="keep the previous key(s) after re-encrypting")] = False,
) -> None:
    """Create the Fernet key, or replace it and re-encrypt every stored credential (MultiFernet)."""
    from sma.cli import _state
    from sma.services.platforms.keys import rotate, secrets_path

    loaded = _settings()
    path = secrets_path(_state.secrets, loaded)

    async def work(database: Any) -> Any:
        return await rotate(loaded, database, path, keep_old=keep_old)

    result = _with_database(loaded, work)
    if result.created:
        typer.echo(f"created a Fernet key in {result.path}")
    else:
        typer.echo(f"rotated the Fernet key in {result.path}; re-encrypted {result.reencrypted} credential(s)"
                   + (f"; kept {result.kept_old} old key(s)" if result.kept_old else ""))
    typer.echo("restart running workers (`sma up`) so they read the new key", err=True)


# ---------------------------------------------------------------- stats


def stats(
    days: Annotated[int, typer.Option("--days", "-d", min=1, help="posts published in the last N days")] = 7,
    as_json: Annotated[bool, typer.Option("--json", help="machine-readable output")] = False,
    project: Annotated[str | None, typer.Option("--project", "-p")] = None,
) -> None:
    """Views, engagement rate and viral score of recent posts, per post and per platform."""
    from sma.services.analytics.stats import render, report

    loaded = _settings()

    async def work(database: Any) -> dict[str, Any]:
        return await report(database, days, project)

    data = _with_database(loaded, work)
    typer.echo(json.dumps(data, indent=2) if as_json else render(data))


def register(app: typer.Typer) -> None:
    """Add this capability's commands to the `sma` app."""
    app.add_typer(credentials_app, name="credentials")
    app.add_typer(secrets_app, name="secrets")
    app.command("stats")(stats)
