"""HTTP byte ranges over an artifact that may live only in the bucket (the dashboard's and API's players).

A video player asks for `Range: bytes=a-b` to seek; answering from the bucket with the same range means a
dashboard on another host plays a 40 MB video without first copying it whole.
"""

from __future__ import annotations

import re

from sma.models.common import ArtifactRef

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
MAX_CHUNK = 8 * 1024 * 1024  # an open-ended range is answered in pieces the player asks for again


class UnsatisfiableRange(ValueError):
    """The range lies outside the object (HTTP 416)."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(start, end) inclusive for a single-range `Range` header, None for no or an unparsable header
    (served whole, as RFC 9110 allows); raises `UnsatisfiableRange` past the end."""
    match = _RANGE.match((header or "").strip())
    if match is None or match.groups() == ("", ""):
        return None
    first, last = match.groups()
    if first == "":  # the last N bytes
        start, end = max(0, size - int(last)), size - 1
    else:
        start = int(first)
        end = min(int(last), size - 1) if last else min(size - 1, start + MAX_CHUNK - 1)
    if start >= size or start > end:
        raise UnsatisfiableRange(f"bytes {header} of a {size}-byte artifact")
    return start, end


def ref_of(path: str, sha256: str, size: int, kind: str, media_type: str) -> ArtifactRef:
    """The ref a recorded artifact row describes."""
    return ArtifactRef(path=path, sha256=sha256, size=size, kind=kind, media_type=media_type)
