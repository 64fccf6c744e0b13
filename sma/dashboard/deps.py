"""What every route needs: the dashboard's shared objects, the logged-in user, and the CSRF check.

`require_user` is attached to every feature router, so a route cannot forget it: GETs need a session,
and every other method also needs the session's CSRF token (form field `csrf_token` or header
`X-CSRF-Token`) and, when the browser sends one, an Origin of this same host.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import HTTPException, Request

from sma.client import RunClient
from sma.dashboard import auth
from sma.dashboard.cache import cache_for
from sma.dashboard.sources import Sources
from sma.dashboard.temporal import TemporalView
from sma.db.engine import Database
from sma.db.tables import utcnow
from sma.services import audit
from sma.settings import ProjectSettings, Settings

SESSION_COOKIE = "sma_session"
LOGIN_CSRF_COOKIE = "sma_login_csrf"
FLASH_COOKIE = "sma_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
SESSION_CACHE_S = 5.0


@dataclass
class Dashboard:
    """The objects one dashboard process shares across requests."""

    settings: Settings
    database: Database
    temporal: TemporalView
    sources: Sources
    throttle: auth.LoginThrottle
    setup_token: str | None = None  # only while no admin password exists
    started: float = 0.0
    extra: dict[str, object] = field(default_factory=dict)
    # token hash -> (monotonic deadline, session): saves a database read on most requests of a page's polls
    _sessions: dict[str, tuple[float, auth.SessionInfo]] = field(default_factory=dict)

    async def runs(self) -> RunClient:
        """The run client for one request: every start, decision and run action goes through it (without
        Temporal its calls that need it raise `Unavailable` with the reason the pages show)."""
        client = await self.temporal.client()
        return RunClient(client, self.settings, self.database,
                         unavailable=self.temporal.last_error or "Temporal is unreachable; try again in a moment")

    async def session_for(self, token: str) -> auth.SessionInfo | None:
        """The live session behind a cookie token; remembered for a few seconds (less than the idle limit)."""
        key, now = auth.token_hash(token), time.monotonic()
        cached = self._sessions.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        info = await auth.load_session(self.database, token, self.idle)
        if info is None:
            self._sessions.pop(key, None)
            return None
        if len(self._sessions) > 1000:
            self._sessions.clear()
        ttl = min(SESSION_CACHE_S, self.idle.total_seconds() / 2)
        self._sessions[key] = (min(now + ttl, now + (info.expires_at - utcnow()).total_seconds()), info)
        return info

    def forget_session(self, token: str) -> None:
        self._sessions.pop(auth.token_hash(token), None)

    def invalidate(self) -> None:
        """Forget cached database reads and Temporal answers: the next page reads them again."""
        cache = cache_for(self.database)
        if cache is not None:
            cache.invalidate()
        self.temporal.forget()

    def project(self, project_id: str) -> ProjectSettings | None:
        """The configured project, or None for rows of a project no longer in the configuration."""
        return next((p for p in self.settings.projects if p.id == project_id), None)

    @property
    def idle(self) -> timedelta:
        return timedelta(minutes=self.settings.dashboard.idle_minutes)

    @property
    def lifetime(self) -> timedelta:
        return timedelta(hours=self.settings.dashboard.session_hours)


@dataclass(frozen=True)
class User:
    name: str
    csrf_token: str

    @property
    def by(self) -> str:
        """How the engine records this person's decisions (approvals, level changes)."""
        return f"dashboard:{self.name}"


class LoginRequired(Exception):
    """No valid session: pages redirect to /login, HTMX and API calls get 401."""


def dash(request: Request) -> Dashboard:
    dashboard: Dashboard = request.app.state.dashboard  # Starlette's state is untyped
    return dashboard


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def user_of(request: Request) -> User:
    user: User = request.state.user  # set by the auth dependency
    return user


async def submitted_csrf(request: Request) -> str:
    header = request.headers.get(CSRF_HEADER, "")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()  # cached by Starlette; the route reads the same parsed form
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def same_origin(request: Request) -> bool:
    """A browser's Origin (or Referer) must name this host; requests without either (curl) pass."""
    origin = request.headers.get("origin") or request.headers.get("referer") or ""
    if not origin or origin == "null":
        return not origin
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


async def require_user(request: Request) -> User:
    d = dash(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    info = await d.session_for(token) if token else None
    if info is None:
        raise LoginRequired()
    user = User(info.username, info.csrf_token)
    request.state.user = user
    if request.method not in SAFE_METHODS:
        token = await submitted_csrf(request)
        if not token or not auth.same(token, info.csrf_token) or not same_origin(request):
            await audit.record(d.database, user.name, "csrf_refused", target=request.url.path, outcome="refused",
                               client=client_of(request))
            raise HTTPException(status_code=403, detail="invalid or missing CSRF token; reload the page and retry")
    return user


def safe_next(target: str | None) -> str:
    """Only local paths after login (never //host or a scheme: no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target
