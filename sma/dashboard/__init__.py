"""Dashboard: FastAPI + Jinja2 + HTMX, server-rendered."""
