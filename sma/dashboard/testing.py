"""Helpers for tests and benchmarks that drive the dashboard over HTTP: log in, read the CSRF token."""

from __future__ import annotations

import re

import httpx

_FORM_TOKEN = re.compile(r'name="form_token" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def form_token(html: str) -> str:
    match = _FORM_TOKEN.search(html)
    assert match, "no form token in the page"
    return match.group(1)


def csrf_token(html: str) -> str:
    match = _CSRF.search(html)
    assert match, "no CSRF token in the page"
    return match.group(1)


def login(client: httpx.Client, password: str) -> str:
    """Log in with a sync client (FastAPI's TestClient); returns the session's CSRF token."""
    page = client.get("/login")
    response = client.post("/login", data={"password": password, "form_token": form_token(page.text), "next": "/"})
    assert response.status_code == 200 and response.url.path == "/", response.text[:500]
    return csrf_token(response.text)


async def alogin(client: httpx.AsyncClient, password: str) -> str:
    """The same with an async client (ASGI transport or a real server)."""
    page = await client.get("/login")
    response = await client.post("/login", data={"password": password, "form_token": form_token(page.text),
                                                 "next": "/"}, follow_redirects=True)
    assert response.status_code == 200 and response.url.path == "/", response.text[:500]
    return csrf_token(response.text)
