"""Tables of the public API (plans/022-api-mcp.md).

- api_tokens: bearer tokens for the REST API and the MCP server. The token `sma_<id>_<secret>` is shown
  once; the row keeps only the SHA-256 of the secret, so a copy of the database cannot call the API.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import Field, SQLModel

from sma.db.tables import UTCDateTime, utcnow


def _time(optional: bool = False) -> Any:
    if optional:
        return Field(default=None, sa_type=UTCDateTime)
    return Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_tokens"

    id: str = Field(primary_key=True)  # public part of the token
    name: str = ""
    scope: str = "read"  # read | write (write includes read)
    secret_hash: str
    created_at: datetime = _time()
    last_used_at: datetime | None = _time(optional=True)
    revoked_at: datetime | None = _time(optional=True)


API_TABLES: tuple[type[SQLModel], ...] = (ApiToken,)
