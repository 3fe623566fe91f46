"""Error answers of the API: ``{"code", "message", "field"}``, the message naming the input and the fix."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException

from metrics.errors import WarehouseNotFoundError
from ml.features import FeatureError
from ml.registry import NoChampionError
from ml.serving import NotServableError

# Errors the features, the registry and the serving raise, with the status and code each answers.
STATUS_OF_ERROR: dict[type[Exception], tuple[int, str]] = {
    FeatureError: (422, "invalid_features"),  # feature rows ml.features.model_input refuses
    NoChampionError: (503, "no_champion"),
    NotServableError: (503, "not_ready"),
    WarehouseNotFoundError: (503, "no_warehouse"),
}


class ErrorAnswer(BaseModel):
    """Why a request was not answered, and what to do about it."""

    code: str
    message: str
    field: str | None = None


class ApiError(Exception):
    """An answer other than 2xx: ``status``, a stable ``code`` and a message that says the fix."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field, self.headers = status, code, message, field, headers


def error_answers(*statuses: int) -> dict[int | str, dict]:
    """The ``responses=`` of a route: these statuses answer an :class:`ErrorAnswer` (in the OpenAPI document)."""
    return {status: {"model": ErrorAnswer} for status in statuses}


def _answer(error: ApiError) -> JSONResponse:
    body = ErrorAnswer(code=error.code, message=error.message, field=error.field)
    return JSONResponse(body.model_dump(), status_code=error.status, headers=error.headers)


def _field(location: tuple) -> str:
    """``("body", "rows", 3, "sessions_7d")`` as ``rows[3].sessions_7d``."""
    text = ""
    for part in location[1:] if location and location[0] in ("body", "path", "query") else location:
        text += f"[{part}]" if isinstance(part, int) else f".{part}" if text else str(part)
    return text or "body"


def install(app: FastAPI) -> None:
    """Map every error a client or a missing prerequisite can cause to its answer (never a 5xx for bad input)."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return _answer(error)

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError) -> JSONResponse:
        problems = error.errors()
        first = problems[0]
        field = _field(tuple(first.get("loc", ())))
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        return _answer(ApiError(422, "invalid_request", f"{field}: {first.get('msg', 'invalid')}{more}; "
                                "see the request schema at /docs", field))

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        # The router's own answers (no such route, method not allowed) in the same shape as ours.
        return _answer(ApiError(error.status_code, f"http_{error.status_code}",
                                f"{error.detail}: {request.method} {request.url.path}; the routes are listed at /docs",
                                headers=getattr(error, "headers", None)))

    for exception_type, (status, code) in STATUS_OF_ERROR.items():
        app.add_exception_handler(exception_type, _answering(status, code))


def _answering(status: int, code: str) -> Callable[[Request, Exception], Awaitable[JSONResponse]]:
    async def handler(request: Request, error: Exception) -> JSONResponse:
        return _answer(ApiError(status, code, str(error)))
    return handler
