"""The FastAPI application: ``create_app(settings)``; ``python -m api`` serves it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from analytics_settings import Settings
from api import errors, predictions, users
from ml.serving import Serving

DESCRIPTION = """\
The HTTP API of Analytics Stack. Every `/v1` route needs a read key of `ANALYTICS_API_KEYS` as a bearer
token (`Authorization: Bearer <key>`). Errors answer `{"code", "message", "field"}`; the message says the fix.
"""


def create_app(settings: Settings) -> FastAPI:
    """The API on ``settings``: the champions of its MLflow registry and its served warehouse."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.serving.close()

    app = FastAPI(title="Analytics Stack API", version="1", description=DESCRIPTION, lifespan=lifespan)
    app.state.settings = settings
    app.state.serving = Serving(settings)
    errors.install(app)
    app.include_router(predictions.router)
    app.include_router(users.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Liveness: the process answers (no key needed)."""
        return {"status": "ok"}

    return app
