"""The API served alone (`sma api serve`): the same /api/v1 URLs and the same body-size limit as under the
dashboard, without the dashboard's pages."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response

from sma.api import errors
from sma.api.app import PREFIX, create_api
from sma.api.limits import BodyLimit
from sma.settings import Settings


def standalone(settings: Settings, **kwargs: Any) -> FastAPI:
    inner = create_api(settings, **kwargs)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with inner.router.lifespan_context(inner):
            yield

    outer = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    outer.mount(PREFIX, inner)

    @outer.exception_handler(404)
    async def not_found(_: Request, __: Exception) -> Response:
        return errors.error_response(404, f"no such path; the API lives under {PREFIX}")

    outer.add_middleware(BodyLimit, limit=settings.dashboard.max_body_kb * 1024,
                         public_limit=settings.dashboard.max_body_kb * 1024)
    return outer
