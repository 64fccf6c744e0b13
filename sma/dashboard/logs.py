"""Log lines of one run, read from the tail of the JSONL log files (blocking: call it in a thread)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

TAIL_BYTES = 8 << 20  # read at most the last 8 MB of each file
HIDDEN = frozenset({"event", "level", "timestamp", "logger", "component"})


@dataclass(frozen=True)
class LogLine:
    timestamp: str
    level: str
    event: str
    component: str = ""
    fields: dict[str, str] = field(default_factory=dict)


def _tail(path: Path, limit: int) -> list[str]:
    with path.open("rb") as fh:
        fh.seek(0, 2)
        size = fh.tell()
        fh.seek(max(0, size - limit))
        data = fh.read()
    lines = data.decode("utf-8", errors="replace").splitlines()
    return lines[1:] if size > limit else lines  # the first line of a partial read is cut


def _parse(raw: str) -> LogLine | None:
    try:
        entry = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(entry, dict):
        return None
    fields = {k: str(v)[:500] for k, v in entry.items() if k not in HIDDEN}
    return LogLine(str(entry.get("timestamp", "")), str(entry.get("level", "")), str(entry.get("event", ""))[:1000],
                   str(entry.get("component", "")), fields)


def run_lines(log_dir: Path, needle: str, limit: int = 200, levels: tuple[str, ...] = ()) -> list[LogLine]:
    """The last `limit` lines mentioning `needle` (a run id), oldest first; optionally only some levels."""
    found: list[LogLine] = []
    if not log_dir.is_dir():
        return found
    for path in sorted(log_dir.glob("*.jsonl")):
        for raw in _tail(path, TAIL_BYTES):
            if needle and needle not in raw:
                continue
            line = _parse(raw)
            if line is not None and (not levels or line.level.lower() in levels):
                found.append(line)
    found.sort(key=lambda line: line.timestamp)
    return found[-limit:]
