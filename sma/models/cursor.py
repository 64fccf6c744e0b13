"""The opaque page cursor shared by the run client and the API: an offset, base64 so callers don't build it."""

from __future__ import annotations

import base64


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    """The offset in `cursor` (0 for none); ValueError for a cursor this code never gave out."""
    if not cursor:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        if kind == "o" and int(value) >= 0:
            return int(value)
    except (ValueError, UnicodeDecodeError):
        pass
    raise ValueError(f"cursor {cursor!r} is not one this API gave out; start again without a cursor")
