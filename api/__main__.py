"""``python -m api``: serve the HTTP API with uvicorn on ANALYTICS_API_HOST:ANALYTICS_API_PORT.

OpenAPI docs at ``/docs``; SIGTERM or Ctrl-C stops it after the requests in flight.
"""

from __future__ import annotations

import logging
import sys

import uvicorn

from analytics_settings.command_line import server_settings
from api.app import create_app

GRACEFUL_SHUTDOWN_SECONDS = 10


def main(argv: list[str] | None = None) -> int:
    settings = server_settings("api", __doc__.splitlines()[0], "api_keys", argv, lambda level: logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"))
    # The access log would name client addresses; each request is logged with its key's name instead.
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, access_log=False,
                log_config=None, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
