"""Cursor pagination, one shape for every list: `?limit=&cursor=` in, `{"items", "next_cursor"}` out.

The cursor is opaque to clients (an encoded offset, the same form the run client hands out), so the
run list and the API's own lists page the same way.
"""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from sma.api.errors import ApiError
from sma.models.cursor import decode_cursor, encode_cursor

T = TypeVar("T")
MAX_LIMIT = 100


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = None


class PageParams(BaseModel):
    limit: int = 20
    cursor: str | None = None

    @property
    def offset(self) -> int:
        return decode(self.cursor)


def page_params(limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")] = 20,
                cursor: Annotated[str | None, Query(description="next_cursor of the previous page")] = None
                ) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode(offset: int) -> str:
    return encode_cursor(offset)


def decode(cursor: str | None) -> int:
    try:
        return decode_cursor(cursor)
    except ValueError:
        raise ApiError(400, "cursor is not one this API gave out; start again without a cursor",
                       code="bad_cursor") from None


def page_of(rows: list[T], params: PageParams) -> Page[T]:
    """A page from `limit + 1` fetched rows: the extra row only says another page exists."""
    more = len(rows) > params.limit
    return Page(items=rows[:params.limit], next_cursor=encode(params.offset + params.limit) if more else None)
