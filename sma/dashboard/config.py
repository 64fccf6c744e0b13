"""Configuration of the dashboard (section `dashboard:`)."""

from __future__ import annotations

from pydantic import Field

from sma.models.section import Section


class DashboardSettings(Section):
    enabled: bool = Field(True, description="`sma up` serves the dashboard beside the workers")
    host: str = Field("127.0.0.1", description="interface to listen on; 0.0.0.0 exposes it to the network")
    port: int = Field(8080, ge=1, le=65535)
    session_hours: float = Field(12.0, gt=0, description="absolute lifetime of a login")
    idle_minutes: float = Field(120.0, gt=0, description="a session unused this long is logged out")
    cookie_secure: bool = Field(False, description="send the session cookie over HTTPS only (set behind TLS)")
    page_size: int = Field(50, ge=5, le=500, description="rows per page of the long lists")
    poll_seconds: float = Field(3.0, ge=1.0, description="how often live parts of a page refresh")
    login_attempts: int = Field(10, ge=1, description="failed logins per client per 5 minutes before a pause")
    temporal_ui_url: str | None = Field(None, description="base URL of the Temporal Web UI; empty = the "
                                                          "embedded one at http://127.0.0.1:<temporal.ui_port>")
    read_cache: bool = Field(True, description="keep page reads until the database changes (SQLite's data "
                                               "version; 2 s elsewhere); off = every page queries again")
    temporal_timeout_s: float = Field(2.0, gt=0, description="a Temporal read slower than this falls back "
                                                            "to the database")
