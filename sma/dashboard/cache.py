"""Read results of the dashboard, kept until the database changes: pages under load skip their queries.

A page's data only changes when someone commits to the database (a worker's recorder, the bot, the CLI,
this dashboard). SQLite counts those commits: `PRAGMA data_version` on a connection of its own changes
whenever any other connection (in this process or another) has committed since the last call, and costs
about 5 µs because it reads the shared WAL index, not the file. So a cached read is exact: it is served
only while the version it was read at is still current. On top of that:

- aggregates (sums of cost and time, usage per day, analytics and their charts) are marked with a TTL
  (`AGGREGATE_S`, 3 s) and kept that long whatever commits meanwhile, so a busy engine (a recorder
  committing every second) does not make every page recompute them;
- every entry also expires after `max_age_s` (reads whose answer depends on the clock, such as "updated
  in the last 24 h", drift by at most that much on an idle database);
- `invalidate()` drops everything at once; the app calls it after each of its own state-changing requests
  (a decision also changes Temporal, which the version cannot see);
- concurrent misses of one key share one load, which runs as its own task on its own session;
- where the version cannot be read (PostgreSQL, MySQL) exact entries live `ttl_s` (2 s); an in-memory
  SQLite database (another connection would see another database) is not cached at all, nor is anything
  when `dashboard.read_cache` is off.

Cached values are shared between requests: callers must treat them as read-only (ORM rows are detached
copies the templates only read).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import sqlite3
import time
import weakref
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from datetime import datetime
from typing import Any, ParamSpec, TypeVar, overload

import structlog
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlmodel.ext.asyncio.session import AsyncSession

from sma.db.engine import Database, sqlite_path

log = structlog.get_logger("sma.dashboard.cache")
T = TypeVar("T")
P = ParamSpec("P")
MAX_ENTRIES = 256  # per kind (exact, aggregate); a page of runs with its HTML is about 200 kB
MAX_AGE_S = 10.0
TTL_S = 2.0  # where the database cannot say whether it changed
AGGREGATE_S = 3.0  # counts, sums and charts: may lag the newest commit by this much
_unique = itertools.count()


class ReadCache:
    """Values keyed by what was asked: exact ones valid while the database's data version stays the same,
    aggregates (counts, sums, charts) for `ttl_s` whatever commits meanwhile. Concurrent misses of one key
    share a single load (after a commit, eight open tabs do not run the same queries eight times)."""

    def __init__(self, url: str, *, max_entries: int = MAX_ENTRIES, max_age_s: float = MAX_AGE_S,
                 ttl_s: float = TTL_S) -> None:
        self.max_entries, self.max_age_s, self.ttl_s = max_entries, max_age_s, ttl_s
        self.enabled = True
        self.hits = self.misses = 0
        self._exact: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._timed: OrderedDict[Hashable, tuple[float, object]] = OrderedDict()
        self._loading: dict[Hashable, tuple[object, asyncio.Task[Any]]] = {}
        self._generation = 0
        self._seen: object = None  # the version the exact entries were read at
        self._path = sqlite_path(url)
        self._memory = self._path is None and url.split(":", 1)[0].startswith("sqlite")
        self._conn: sqlite3.Connection | None = None

    # ------------------------------------------------------------ the version

    def _data_version(self) -> object:
        """SQLite's commit counter as seen from a connection that never writes; a fresh token on error."""
        try:
            if self._conn is None:
                # Used only on the event loop's thread; never writes, so it never takes a write lock.
                self._conn = sqlite3.connect(str(self._path), isolation_level=None, check_same_thread=False)
            return self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error as exc:  # busy during a recovery, file replaced...: treat as "changed"
            log.debug("data_version unreadable", error=str(exc))
            self.close()
            return ("error", next(_unique))

    def version(self) -> object:
        if self._path is not None:
            return (self._generation, self._data_version())
        return (self._generation, int(time.monotonic() / self.ttl_s))

    @property
    def active(self) -> bool:
        """False when nothing may be cached (disabled, or an in-memory database)."""
        return self.enabled and not self._memory

    def _current(self) -> bool:
        """Drop the exact entries when the data changed since they were read; False when not active."""
        if not self.active:
            return False
        version = self.version()
        if version != self._seen:
            self._exact.clear()
            self._seen = version
        return True

    # ------------------------------------------------------------ entries

    async def get(self, key: Hashable, load: Callable[[], Awaitable[T]], ttl_s: float | None = None) -> T:
        """The cached value for `key`, or `await load()`. Exact (`ttl_s` None): read after checking the
        version, so a commit that lands while loading makes the next request read again. Aggregate:
        kept `ttl_s` seconds (and until the dashboard's next own action)."""
        if not self._current():
            return await load()
        entries = self._exact if ttl_s is None else self._timed
        now = time.monotonic()
        entry = entries.get(key)
        if entry is not None and entry[0] > now:
            entries.move_to_end(key)
            self.hits += 1
            return entry[1]  # type: ignore[return-value]  # entries are keyed by the loader that made them
        seen = self._seen if ttl_s is None else self._generation
        slot = (ttl_s is None, key)
        loading = self._loading.get(slot)
        if loading is not None and loading[0] == seen:
            self.hits += 1
            return await asyncio.shield(loading[1])
        self.misses += 1
        task: asyncio.Task[T] = asyncio.ensure_future(load())  # its own task: a cancelled caller stops no one
        self._loading[slot] = (seen, task)
        try:
            value = await asyncio.shield(task)
        finally:
            if self._loading.get(slot, (None, None))[1] is task:
                del self._loading[slot]
        if seen == (self._seen if ttl_s is None else self._generation):  # nothing newer was seen meanwhile
            entries[key] = (now + (self.max_age_s if ttl_s is None else ttl_s), value)
            entries.move_to_end(key)
            while len(entries) > self.max_entries:
                entries.popitem(last=False)
        return value

    def invalidate(self) -> None:
        """Forget everything, aggregates too (after this dashboard changed something)."""
        self._generation += 1
        self._exact.clear()
        self._timed.clear()

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            finally:
                self._conn = None


_caches: weakref.WeakKeyDictionary[AsyncEngine, ReadCache] = weakref.WeakKeyDictionary()


def _engine(db: Database | AsyncSession) -> AsyncEngine | None:
    bind = db.bind if isinstance(db, AsyncSession) else db.engine
    return bind if isinstance(bind, AsyncEngine) else None


def cache_for(db: Database | AsyncSession) -> ReadCache | None:
    """The cache of this database's engine (one per engine and process); None for an unbound session."""
    engine = _engine(db)
    if engine is None:
        return None
    cache = _caches.get(engine)
    if cache is None:
        cache = _caches[engine] = ReadCache(engine.url.render_as_string(hide_password=False))
        event.listen(engine.sync_engine, "engine_disposed", lambda _engine: cache.close())
    return cache


def _frozen(value: Any) -> Hashable:
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value) if isinstance(value, set | frozenset) else value
        return tuple(_frozen(v) for v in items)
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    hashable: Hashable = value
    return hashable


@overload
def cached(fn: Callable[P, Awaitable[T]], *, ttl_s: float | None = None) -> Callable[P, Awaitable[T]]: ...
@overload
def cached(
    fn: None = None, *, ttl_s: float | None = None
) -> Callable[[Callable[P, Awaitable[T]]], Callable[P, Awaitable[T]]]: ...
def cached(fn: Callable[P, Awaitable[T]] | None = None, *, ttl_s: float | None = None) -> Any:
    """Cache a read whose first argument is the database (or the request's session) and whose other
    arguments are values (lists are fine); its result is shared and must not be mutated. `@cached` reads
    are exact (until the next commit); `@cached(ttl_s=AGGREGATE_S)` marks counts and sums that may lag
    commits by that long. A miss runs on a session of its own, so concurrent pages can share it."""
    if fn is None:
        return functools.partial(cached, ttl_s=ttl_s)
    name = f"{fn.__module__}.{fn.__qualname__}"

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        db = args[0]
        cache = cache_for(db)  # type: ignore[arg-type]  # a @cached read's first argument is the database
        if cache is None or not cache.active:  # uncached: on the caller's session, as written
            return await fn(*args, **kwargs)

        async def load() -> T:
            if not isinstance(db, AsyncSession):
                return await fn(*args, **kwargs)
            async with type(db)(db.bind, expire_on_commit=False) as own:
                return await fn(own, *args[1:], **kwargs)  # type: ignore[arg-type]  # the same call on its own session

        key = (name, _frozen(args[1:]), _frozen(kwargs))
        return await cache.get(key, load, ttl_s)
    return wrapper


async def remember(db: Database | AsyncSession, key: Hashable, load: Callable[[], Awaitable[T]],
                   ttl_s: float | None = None) -> T:
    """`load()` through the database's cache (for reads that are not a `@cached` function: other
    capabilities' services, a page's rows drawn as HTML); `key` must name everything the answer depends
    on, and `load` must not use a request's session (it may finish for another request)."""
    cache = cache_for(db)
    if cache is None:
        return await load()
    return await cache.get(key, load, ttl_s)


def minute(value: datetime) -> datetime:
    """`value` floored to the minute: a time window that moves with the clock still hits the cache."""
    return value.replace(second=0, microsecond=0)
