"""Projects and channels: niche, audience, brand voice, banned phrases, cadence, TTS and LLM chains, and
platform credentials (entered once, stored encrypted by the publishing capability, never shown again).

Project settings come from config/config.yaml (the source of truth) and are shown read-only; credentials
are written through `CredentialStore`, and the page only ever shows which fields are set.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from sma.dashboard.deps import Dashboard, client_of, dash, require_user, user_of
from sma.dashboard.templating import redirect, render
from sma.services import audit
from sma.services.platforms.credentials import FIELDS, CredentialError, Credentials, CredentialStore, parse_time
from sma.settings import ConfigError

router = APIRouter(dependencies=[Depends(require_user)], tags=["projects"])


def _store(d: Dashboard) -> CredentialStore | None:
    from sma.services.platforms.credentials import split_keys

    key = d.settings.secrets.fernet_key
    keys = split_keys(key.get_secret_value() if key else None)
    try:
        return CredentialStore(d.database, keys) if keys else None
    except CredentialError:
        return None


async def _stored(store: CredentialStore | None, project_id: str) -> list[dict[str, Any]]:
    if store is None:
        return []
    result = []
    for row in await store.rows(project_id):
        try:
            names, problem = await store.field_names(row), ""
        except CredentialError as exc:
            names, problem = [], str(exc)
        result.append({"platform": row.platform, "fields": names, "problem": problem, "updated_at": row.updated_at,
                       "expires_at": row.expires_at})
    return result


@router.get("/projects")
async def projects(request: Request) -> Response:
    d = dash(request)
    store = _store(d)
    items = [{"settings": p, "credentials": await _stored(store, p.id)} for p in d.settings.projects]
    return render(request, "pages/projects.html", {
        "items": items, "fields": FIELDS, "has_key": store is not None, "tts_chain": d.settings.tts.chain,
        "llm_chains": d.settings.llm.chains, "scheduler": d.settings.scheduler.model_dump(),
    })


@router.get("/projects/{project_id}/look.png")
async def look_preview(request: Request, project_id: str) -> Response:
    """A preview frame of the project's brand kit and caption style (drawn, not rendered: ~100 ms)."""
    from sma.services.media.brand import preview_frame

    d = dash(request)
    project = next((p for p in d.settings.projects if p.id == project_id), None)
    if project is None:
        return Response(f"no project {project_id!r}", status_code=404, media_type="text/plain")
    try:
        png = preview_frame(d.settings.media, project_id, project.platforms)
    except ValueError as exc:  # a bad colour or a missing font in the look settings
        return Response(str(exc), status_code=422, media_type="text/plain")
    return Response(png, media_type="image/png", headers={"Cache-Control": "no-store"})


@router.post("/projects/{project_id}/credentials")
async def save_credentials(request: Request, project_id: str) -> Response:
    d, user = dash(request), user_of(request)
    form = await request.form()
    platform = str(form.get("platform", ""))
    store = _store(d)
    try:
        d.settings.project(project_id)
        if platform not in FIELDS:
            raise CredentialError(f"unknown platform {platform!r}")
        if store is None:
            raise CredentialError("no Fernet key configured (secrets.fernet_key): run `sma secrets rotate` first")
        values = {f.name: str(form.get(f.name, "")).strip() for f in FIELDS[platform]}
        expires = parse_time(values.pop("expires_at", "") or None)
        current = await store.get(project_id, platform) or Credentials(project_id=project_id, platform=platform)
        merged = current.updated(expires_at=expires, **values)
        missing = [f.name for f in FIELDS[platform] if f.required and not merged.reveal(f.name)]
        if missing:
            raise CredentialError(f"{platform} needs {', '.join(missing)}")
        await store.put(merged)
        ok, message = True, f"{platform} credentials of {project_id} saved (encrypted)."
    except (CredentialError, ConfigError) as exc:
        ok, message = False, str(exc)
    names = {f.name for f in FIELDS.get(platform, ())}
    await audit.record(d.database, user.name, "credentials_set", target=platform, project_id=project_id,
                       outcome="ok" if ok else "refused", client=client_of(request),
                       fields=sorted(k for k, v in form.items() if v and k in names))  # names only, never values
    return redirect("/projects", message if ok else "!" + message)


@router.post("/projects/{project_id}/credentials/{platform}/delete")
async def delete_credentials(request: Request, project_id: str, platform: str) -> Response:
    d, user = dash(request), user_of(request)
    store = _store(d)
    deleted = bool(store and await store.delete(project_id, platform))
    await audit.record(d.database, user.name, "credentials_delete", target=platform, project_id=project_id,
                       outcome="ok" if deleted else "refused", client=client_of(request))
    return redirect("/projects", f"{platform} credentials of {project_id} deleted." if deleted
                    else f"!no {platform} credentials stored for {project_id}")
