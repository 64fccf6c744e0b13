"""Jinja2 environment, filters and the one render helper every route uses.

`render` calls `TemplateResponse(request, name, ctx)` (DESIGN.md convention 10) with what every page
needs: the user, the CSRF token, the navigation, the poll interval and a one-shot flash message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote, urlencode, urlsplit

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from sma import __version__
from sma.dashboard import charts
from sma.dashboard.deps import FLASH_COOKIE, dash

TEMPLATES = Path(__file__).parent / "templates"
DASH = "\u2013"  # shown for "no value"

NAV: tuple[tuple[str, str], ...] = (
    ("/", "Overview"),
    ("/runs", "Runs"),
    ("/approvals", "Approvals"),
    ("/trends", "Trends"),
    ("/calendar", "Calendar"),
    ("/posts", "Posts"),
    ("/analytics", "Analytics"),
    ("/insights", "Insights"),
    ("/autonomy", "Autonomy"),
    ("/projects", "Projects"),
    ("/providers", "Providers"),
    ("/system", "System"),
)

STATE_CLASS = {
    "running": "info", "awaiting_approval": "warn", "published": "ok", "rejected": "muted", "failed": "bad",
    "expired": "muted", "held": "warn", "cancelled": "muted", "done": "ok", "pending": "muted", "skipped": "muted",
    "ok": "ok", "refused": "bad", "error": "bad", "planned": "info",
}


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def fmt_time(value: datetime | str | None, seconds: bool = False) -> str:
    if not value:
        return DASH
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        value = parsed
    return _as_utc(value).strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M") + " UTC"


def ago(value: datetime | None) -> str:
    if not value:
        return DASH
    delta = (datetime.now(UTC) - _as_utc(value)).total_seconds()
    future = delta < 0
    delta = abs(delta)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if delta >= size:
            text = f"{int(delta // size)} {unit}"
            break
    else:
        text = f"{int(delta)} s"
    return f"in {text}" if future else f"{text} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return DASH
    seconds = float(seconds)
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def number(value: float | None) -> str:
    """1920.0 -> 1920, 0.1174 -> 0.117: metrics read as numbers, not scientific notation."""
    if value is None:
        return DASH
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.3f}".rstrip("0").rstrip(".")


def size(value: int | None) -> str:
    value = int(value or 0)
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("kB", 1 << 10)):
        if value >= scale:
            return f"{value / scale:.1f} {unit}"
    return f"{value} B"


def safe_url(value: str | None) -> str:
    """Only http(s) links are rendered as links (never javascript: or data: from stored text)."""
    if value and urlsplit(value).scheme in ("http", "https"):
        return value
    return ""


def pretty_json(value: Any) -> str:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return value
        value = parsed
    return json.dumps(value, indent=1, ensure_ascii=False, default=str)


def from_json(value: str | None, default: Any = None) -> Any:
    try:
        return json.loads(value or "")
    except ValueError:
        return default


def make_templates() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES), context_processors=[_common])
    env = templates.env
    env.auto_reload = False  # templates ship with the package: no stat() of every template on every render
    env.filters.update(
        dt=fmt_time, ago=ago, dur=duration, size=size, num=number, usd=charts.usd, compact=charts.compact,
        pct=charts.percent,
        safe_url=safe_url, pretty_json=pretty_json, from_json=from_json, urlq=lambda v: quote(str(v), safe=""),
        state_class=lambda s: STATE_CLASS.get(str(s), "muted"),
        label=lambda s: str(s).replace("_", " "),
    )
    env.globals.update(nav=NAV, version=__version__, progress=charts.progress_bar)
    return templates


def _common(request: Request) -> dict[str, Any]:
    user = getattr(request.state, "user", None)
    d = dash(request)
    return {
        "user": user,
        "csrf_token": user.csrf_token if user else "",
        "poll_s": d.settings.dashboard.poll_seconds,
        "path": request.url.path,
        "flash": unquote(request.cookies.get(FLASH_COOKIE, ""))[:300],
        "projects": [p.id for p in d.settings.projects],
    }


def query_string(base: dict[str, Any], **changes: Any) -> str:
    """The current filters with some changed, for pagination links."""
    merged = {k: v for k, v in {**base, **changes}.items() if v not in (None, "")}
    return "?" + urlencode(merged) if merged else ""


def render(request: Request, name: str, ctx: dict[str, Any] | None = None, status_code: int = 200) -> Response:
    templates: Jinja2Templates = request.app.state.templates
    response = templates.TemplateResponse(request, name, {**(ctx or {}), "qs": query_string}, status_code=status_code)
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/", samesite="strict")
    return response


def fragment(request: Request, name: str, ctx: dict[str, Any]) -> Markup:
    """A partial rendered on its own, to be cached with the rows it shows (it gets no user, no CSRF token:
    only what `ctx` holds); the page template prints it as is."""
    templates: Jinja2Templates = request.app.state.templates
    return Markup(templates.get_template(name).render(ctx))


def redirect(url: str, flash: str = "") -> RedirectResponse:
    """Post/redirect/get with an optional one-shot message shown on the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(FLASH_COOKIE, quote(flash[:300].replace("\n", " ")), max_age=60, path="/", httponly=True,
                            samesite="strict")
    return response
