"""Read keys: ``Authorization: Bearer <key>`` with a key of ``ANALYTICS_API_KEYS``, else 401."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from analytics_settings import ApiKey
from api.errors import ApiError

logger = logging.getLogger("api")
bearer = HTTPBearer(auto_error=False, description="A read key of ANALYTICS_API_KEYS (`name=key` pairs): the key.")


def key_name(keys: tuple[ApiKey, ...], presented: str) -> str | None:
    """The name of the key equal to ``presented``. Every key is compared, in constant time, so the answer's
    timing tells nothing about which key came close."""
    found = None
    for api_key in keys:
        if hmac.compare_digest(api_key.key.get_secret_value().encode(), presented.encode()):
            found = api_key.name
    return found


def require_read_key(request: Request,
                     credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    """The name of the client's read key; 401 with ``WWW-Authenticate: Bearer`` without a valid one."""
    name = key_name(request.app.state.settings.api_keys, credentials.credentials) if credentials else None
    if name is None:
        raise ApiError(
            401, "unauthorized",
            "missing or unknown API key: send `Authorization: Bearer <key>` with a key of ANALYTICS_API_KEYS",
            headers={"WWW-Authenticate": 'Bearer realm="analytics"' if credentials is None
                     else 'Bearer realm="analytics", error="invalid_token"'})
    logger.info("%s %s by %s", request.method, request.url.path, name)
    return name
