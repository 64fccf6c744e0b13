"""Alembic environment: SQLModel metadata, a synchronous driver, batch mode on SQLite.

The URL comes from `config.attributes["database_url"]` (set by sma.db.migrate), else `sqlalchemy.url`
in the ini file, else the SMA settings. Async URLs are mapped to their sync driver (Alembic is sync).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlmodel import SQLModel

from sma.db import (  # noqa: F401  (importing registers their tables)
    tables_api,
    tables_autonomy,
    tables_dashboard,
    tables_llm,
    tables_media,
    tables_publishing,
    tables_trends,
    tables_voice,
)
from sma.db.engine import make_sync_engine, sync_url
from sma.db.tables import UTCDateTime  # importing the module registers every table on SQLModel.metadata

config = context.config
target_metadata = SQLModel.metadata

# Only the alembic CLI passes an ini file; programmatic runs keep the application's logging.
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)


def _database_url() -> str:
    url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
    if not url:
        from sma.settings import load_settings

        url = load_settings().database_url
    return url


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render our TypeDecorator as the plain type it stores, so migrations do not import sma."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _options(url: str) -> dict[str, Any]:
    return {
        "target_metadata": target_metadata,
        "render_as_batch": url.startswith("sqlite"),
        "compare_type": True,
        "render_item": _render_item,
    }


def run_migrations_offline() -> None:
    url = sync_url(_database_url())
    context.configure(url=url, literal_binds=True, dialect_opts={"paramstyle": "named"}, **_options(url))
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    url = sync_url(_database_url())
    engine = make_sync_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(connection=connection, **_options(url))
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
