"""Many runs from one CSV file (`sma batch`): one row, one run, through the same path as `sma run`.

Rows are checked before anything starts, so a typo is reported with its line number instead of half a
batch running. Each row then goes through `new_run_input` (the project's level, or the row's explicit
`autonomy`) and the run client's once-per-topic start (handed in as `start`), so a row that was already
started, in this file or by an earlier batch, answers with the first run instead of making a second video:
running a batch again is safe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import httpx

from sma.db.engine import Database
from sma.models.pipeline import PipelineInput
from sma.models.topic import Topic, TopicError
from sma.services.articles.fetch import ArticleError, check_url
from sma.services.runs import RunError, new_run_input
from sma.settings import ConfigError, Settings

COLUMNS = ("topic", "url", "summary", "project", "autonomy", "force")
ALIASES = {"title": "topic", "link": "url"}
LEVELS = ("manual", "assisted", "autonomous")
_YES, _NO = {"1", "yes", "y", "true", "x"}, {"", "0", "no", "n", "false"}
Outcome = Literal["started", "existing", "refused"]


class StartedRun(Protocol):
    """What starting a row answers (the run client's `Started`)."""

    @property
    def workflow_id(self) -> str: ...
    @property
    def existing(self) -> bool: ...
    @property
    def state(self) -> str: ...


Start = Callable[[PipelineInput, bool], Awaitable[StartedRun]]  # RunClient.start_input(inp, force)


class BatchFileError(ValueError):
    """The file as a whole cannot be read (no header, unknown columns); nothing was started."""


@dataclass(frozen=True)
class BatchRow:
    line: int  # the line in the file, as an editor numbers it (the header is line 1)
    topic: str = ""
    url: str = ""
    summary: str = ""
    project: str = ""
    autonomy: str | None = None
    force: bool = False

    @property
    def label(self) -> str:
        return self.topic or self.url


@dataclass(frozen=True)
class RowOutcome:
    line: int
    label: str
    outcome: Outcome
    workflow_id: str = ""
    reason: str = ""

    def describe(self) -> str:
        if self.outcome == "refused":
            return f"line {self.line}: {self.reason}"
        verb = "started" if self.outcome == "started" else "already started"
        extra = f" ({self.reason})" if self.reason else ""
        return f"line {self.line}: {verb} {self.workflow_id}{extra}"


def read_rows(text: str, settings: Settings, default_project: str) -> tuple[list[BatchRow], list[RowOutcome]]:
    """The rows that can start a run, and a refusal (with its line and the fix) for each that cannot."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [ALIASES.get(h, h) for h in (_key(h) for h in reader.fieldnames or [])]
    if not header:
        raise BatchFileError("the file is empty: the first line must name the columns, e.g. topic,url,summary")
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise BatchFileError(f"unknown column(s) {', '.join(map(repr, unknown))} in the header; known columns: "
                             f"{', '.join(COLUMNS)} (title and link are accepted for topic and url)")
    if "topic" not in header and "url" not in header:
        raise BatchFileError("the header has neither a topic nor a url column: every row needs one of them")
    reader.fieldnames = header
    rows: list[BatchRow] = []
    refused: list[RowOutcome] = []
    for record in reader:
        line = reader.line_num
        extra = record.pop(None, None)
        cells = {k: (v or "").strip() for k, v in record.items()}
        if not any(cells.values()) and not extra:
            continue  # a blank line
        label = cells.get("topic") or cells.get("url") or ""
        try:
            if extra:
                raise ValueError(f"{len(header) + len(extra)} cells but the header names {len(header)}; "
                                 "quote a cell that contains a comma")
            rows.append(_row(line, cells, settings, default_project))
        except (ValueError, ConfigError) as exc:
            refused.append(RowOutcome(line, label, "refused", reason=str(exc)))
    return rows, refused


def _key(name: str | None) -> str:
    return (name or "").strip().lower()


def _row(line: int, cells: dict[str, str], settings: Settings, default_project: str) -> BatchRow:
    topic, url = cells.get("topic", ""), cells.get("url", "")
    if not topic and not url:
        raise ValueError("neither a topic nor a url: fill one of them")
    if url:
        url = check_url(url)
    else:
        Topic.checked(topic, cells.get("summary", ""))  # the run's topic is built again at start
    project = cells.get("project") or default_project
    settings.project(project)
    autonomy = cells.get("autonomy", "").lower() or None
    if autonomy is not None and autonomy not in LEVELS:
        raise ValueError(f"autonomy {autonomy!r} is not one of {', '.join(LEVELS)} (leave it empty for the "
                         "project's level)")
    force = cells.get("force", "").lower()
    if force not in _YES | _NO:
        raise ValueError(f"force {force!r} is not yes or no")
    return BatchRow(line=line, topic=topic, url=url, summary=cells.get("summary", ""), project=project,
                    autonomy=autonomy, force=force in _YES)


async def row_topic(settings: Settings, row: BatchRow, transport: httpx.AsyncBaseTransport | None = None) -> Topic:
    """The row's topic: from its article when it has a url (the row's topic and summary win), else its text."""
    if row.url:
        from sma.services.articles import article_topic

        _, topic = await article_topic(settings.articles, row.url, row.topic, row.summary, transport=transport)
        return topic
    return Topic.checked(row.topic, row.summary)


async def start_rows(start: Start, settings: Settings, database: Database, rows: list[BatchRow],
                     on_row: Callable[[RowOutcome], None] | None = None,
                     transport: httpx.AsyncBaseTransport | None = None) -> list[RowOutcome]:
    """Start each row in order; a row that fails is refused with the reason and the batch goes on."""
    outcomes: list[RowOutcome] = []
    for row in rows:
        outcome = await _start(start, settings, database, row, transport)
        outcomes.append(outcome)
        if on_row is not None:
            on_row(outcome)
    return outcomes


async def _start(start: Start, settings: Settings, database: Database, row: BatchRow,
                 transport: httpx.AsyncBaseTransport | None) -> RowOutcome:
    try:
        topic = await row_topic(settings, row, transport)
        inp = await new_run_input(settings, database, topic, row.project, entry="batch", autonomy=row.autonomy)
        started = await start(inp, row.force)
    except (ArticleError, TopicError, ConfigError, RunError) as exc:  # RunError: the client's, Temporal's refusal
        return RowOutcome(row.line, row.label, "refused", reason=str(exc))
    if started.existing:
        return RowOutcome(row.line, row.label, "existing", started.workflow_id,
                          reason=f"{started.state}; add force=yes to the row for another video")
    return RowOutcome(row.line, row.label, "started", started.workflow_id)


def summary(outcomes: list[RowOutcome]) -> str:
    counts = {kind: sum(o.outcome == kind for o in outcomes) for kind in ("started", "existing", "refused")}
    return (f"{counts['started']} started, {counts['existing']} already started, "
            f"{counts['refused']} refused")
