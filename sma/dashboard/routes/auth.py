"""Login, first-start password setup and logout.

The login and setup forms carry their own CSRF token (double submit: a random cookie, SameSite=Strict,
and the same value in the form), because there is no session yet to hold one. The token is also stored
(hashed) and spent by its first submission, so a captured form cannot be replayed. Passwords are checked
only after the database throttle granted an attempt (`auth.LoginThrottle`).
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import PlainTextResponse, Response

from sma.dashboard import auth
from sma.dashboard.deps import (
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    User,
    client_of,
    dash,
    require_user,
    safe_next,
    same_origin,
)
from sma.dashboard.templating import redirect, render
from sma.services import audit

router = APIRouter(tags=["auth"])


async def _form_page(request: Request, name: str, ctx: dict[str, Any], status_code: int = 200) -> Response:
    token = await auth.issue_form_token(dash(request).database)
    response = render(request, name, {**ctx, "form_token": token}, status_code=status_code)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, max_age=1800, httponly=True, samesite="strict", path="/",
                        secure=dash(request).settings.dashboard.cookie_secure)
    return response


async def _form_token_ok(request: Request, submitted: str) -> bool:
    """The form's token matches its cookie, comes from this site, and was not used before (it is now)."""
    cookie = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    return (bool(cookie and submitted) and auth.same(cookie, submitted) and same_origin(request)
            and await auth.use_form_token(dash(request).database, submitted))


def _start_session(request: Request, token: str, target: str) -> Response:
    response = redirect(safe_next(target))
    d = dash(request)
    # Strict: never sent with a request another site starts (a link from elsewhere lands on the login page).
    response.set_cookie(SESSION_COOKIE, token, max_age=int(d.lifetime.total_seconds()), httponly=True,
                        samesite="strict", secure=d.settings.dashboard.cookie_secure, path="/")
    response.delete_cookie(LOGIN_CSRF_COOKIE, path="/", samesite="strict")
    return response


@router.get("/healthz", include_in_schema=False)
async def healthz() -> PlainTextResponse:
    return PlainTextResponse("ok")


@router.get("/login")
async def login_page(request: Request, next: str = "/") -> Response:
    if dash(request).setup_token:
        return redirect("/setup")
    return await _form_page(request, "pages/login.html", {"next": safe_next(next), "error": ""})


@router.post("/login")
async def login(request: Request, password: str = Form(""), form_token: str = Form(""),
                next: str = Form("/")) -> Response:
    d, client = dash(request), client_of(request)
    if d.setup_token:
        return redirect("/setup")
    if not await _form_token_ok(request, form_token):
        await audit.record(d.database, "?", "login", outcome="refused", client=client, reason="csrf")
        return await _form_page(request, "pages/login.html", {"next": safe_next(next),
                                                               "error": "The form expired; please try again."}, 403)
    if not await d.throttle.reserve(client):
        await audit.record(d.database, "?", "login", outcome="refused", client=client, reason="throttled")
        return await _form_page(request, "pages/login.html", {
            "next": safe_next(next), "error": "Too many failed attempts; wait a few minutes."}, 429)
    admin = await auth.get_admin(d.database)
    ok = admin is not None and await asyncio.to_thread(auth.verify_password, admin.password_hash, password)
    if not ok:
        await audit.record(d.database, auth.ADMIN, "login", outcome="refused", client=client, reason="password")
        return await _form_page(request, "pages/login.html", {"next": safe_next(next),
                                                               "error": "Wrong password."}, 401)
    await d.throttle.succeeded(client)
    token, _ = await auth.create_session(d.database, auth.ADMIN, d.lifetime, client,
                                         request.headers.get("user-agent", ""))
    await audit.record(d.database, auth.ADMIN, "login", client=client)
    return _start_session(request, token, next)


@router.get("/setup")
async def setup_page(request: Request, token: str = "") -> Response:
    if not dash(request).setup_token:
        return redirect("/login")
    return await _form_page(request, "pages/setup.html", {"token": token, "error": ""})


@router.post("/setup")
async def setup(request: Request, token: str = Form(""), password: str = Form(""), repeat: str = Form(""),
                form_token: str = Form("")) -> Response:
    d, client = dash(request), client_of(request)
    if not d.setup_token:
        return redirect("/login")
    error = ""
    if not await _form_token_ok(request, form_token):
        error = "The form expired; please try again."
    elif not await d.throttle.reserve(client):
        error = "Too many failed attempts; wait a few minutes."
    elif not token or not auth.same(token, d.setup_token):
        error = "That setup token is not the one `sma dashboard` printed."
    else:
        error = auth.password_problem(password, repeat)
    if error:
        await audit.record(d.database, "?", "setup", outcome="refused", client=client, reason=error)
        return await _form_page(request, "pages/setup.html", {"token": token, "error": error}, 400)
    await auth.store_admin(d.database, await asyncio.to_thread(auth.hash_password, password), "setup")
    d.setup_token = None
    await audit.record(d.database, auth.ADMIN, "setup", client=client)
    session, _ = await auth.create_session(d.database, auth.ADMIN, d.lifetime, client,
                                           request.headers.get("user-agent", ""))
    return _start_session(request, session, "/")


@router.post("/logout")
async def logout(request: Request, user: Annotated[User, Depends(require_user)]) -> Response:
    d = dash(request)
    token = request.cookies.get(SESSION_COOKIE, "")
    d.forget_session(token)
    await auth.delete_session(d.database, token)
    await audit.record(d.database, user.name, "logout", client=client_of(request))
    response = redirect("/login")
    response.delete_cookie(SESSION_COOKIE, path="/", samesite="strict")
    return response
