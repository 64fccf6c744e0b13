"""Signed, compact inline-button data (Telegram allows at most 64 bytes of callback_data).

Layout: `<action><ref>.<round>.<sig>`, with ref and round in base 36 and sig the first 16 characters of
the URL-safe base64 HMAC-SHA256 of the other fields (96 bits). `ref` is the id of the approval message
row, which names the run; the round is repeated so a button can never act on a later round. Anything
that does not parse, or whose signature does not match, is refused before any lookup.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass

MAX_BYTES = 64
ACTIONS = {
    "a": "approve",
    "r": "reject",  # asks for a reason
    "s": "skip",  # reject without a reason
    "o": "reopen",
    "t": "produce",  # a /trends topic; ref is its trend_results id
}
# Used with fullmatch: `$` would also accept a trailing newline.
_PATTERN = re.compile(r"([a-z])([0-9a-z]{1,12})\.([0-9a-z]{1,6})\.([A-Za-z0-9_-]{16})")


class InvalidCallback(ValueError):
    """The callback data is malformed or not signed by us."""


@dataclass(frozen=True)
class Callback:
    action: str
    ref: int
    round: int


def _b36(number: int) -> str:
    if number < 0:
        raise ValueError("negative")
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
        if number == 0:
            return out


def derive_secret(callback_secret: str | None, bot_token: str | None) -> bytes:
    """The configured secret, or one derived from the bot token (never logged, never sent)."""
    if callback_secret:
        return callback_secret.encode()
    if bot_token:
        return hashlib.sha256(b"sma-callback:" + bot_token.encode()).digest()
    raise ValueError("a callback secret or a bot token is needed to sign buttons")


class CallbackCodec:
    def __init__(self, secret: bytes) -> None:
        if len(secret) < 16:
            raise ValueError("the callback secret must be at least 16 bytes")
        self._secret = secret

    def _sig(self, body: str) -> str:
        digest = hmac.new(self._secret, f"v1|{body}".encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode()[:16]

    def encode(self, action: str, ref: int, round_no: int) -> str:
        if action not in ACTIONS:
            raise ValueError(f"unknown action {action!r}")
        body = f"{action}{_b36(ref)}.{_b36(round_no)}"
        data = f"{body}.{self._sig(body)}"
        assert len(data.encode()) <= MAX_BYTES
        return data

    def decode(self, data: object) -> Callback:
        if not isinstance(data, str) or len(data.encode("utf-8", "replace")) > MAX_BYTES:
            raise InvalidCallback("not a callback of this bot")
        match = _PATTERN.fullmatch(data)
        if match is None or match.group(1) not in ACTIONS:
            raise InvalidCallback("not a callback of this bot")
        action, ref, round_no, sig = match.groups()
        if not hmac.compare_digest(sig, self._sig(f"{action}{ref}.{round_no}")):
            raise InvalidCallback("bad signature")
        return Callback(action=ACTIONS[action], ref=int(ref, 36), round=int(round_no, 36))
