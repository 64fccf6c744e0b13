"""One router per feature (DESIGN.md convention 10); every router except `auth` requires a login."""

from __future__ import annotations

from fastapi import APIRouter

from sma.dashboard.routes import (
    analytics,
    approvals,
    auth,
    autonomy,
    calendar,
    files,
    insights,
    overview,
    posts,
    projects,
    providers,
    run_actions,
    runs,
    system,
    trends,
)

ROUTERS: tuple[APIRouter, ...] = (
    auth.router, overview.router, runs.router, run_actions.router, approvals.router, trends.router, calendar.router,
    posts.router,
    analytics.router, insights.router, autonomy.router, projects.router, providers.router, system.router,
    files.router,
)
