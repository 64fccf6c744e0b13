"""Configuration of the dashboard (section `dashboard:`)."""

from __future__ import annotations

from pydantic import Field, model_validator

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
    login_attempts: int = Field(10, ge=1, description="logins checked per client address per 5 minutes")
    login_account_attempts: int = Field(50, ge=1, description="logins checked for the account per 5 minutes, "
                                                              "from all addresses; keep it above login_attempts")
    max_body_kb: int = Field(256, ge=1, description="largest request body a logged-in page may send; larger "
                                                   "ones get 413 before they are read")
    max_login_body_kb: int = Field(16, ge=1, description="largest body of the login and setup forms")
    temporal_ui_url: str | None = Field(None, description="base URL of the Temporal Web UI; empty = the "
                                                          "embedded one at http://127.0.0.1:<temporal.ui_port>")
    read_cache: bool = Field(True, description="keep page reads until the database changes (SQLite's data "
                                               "version; 2 s elsewhere); off = every page queries again")
    temporal_timeout_s: float = Field(2.0, gt=0, description="a Temporal read slower than this falls back "
                                                            "to the database")

    @model_validator(mode="after")
    def _one_address_cannot_lock_the_account(self) -> DashboardSettings:
        if self.login_account_attempts <= self.login_attempts:
            raise ValueError("login_account_attempts must be above login_attempts, or one address could lock "
                             "the admin out of every other")
        return self
