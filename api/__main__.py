"""``python -m api``: serve the HTTP API with uvicorn on ANALYTICS_API_HOST:ANALYTICS_API_PORT.

OpenAPI docs at ``/docs``; SIGTERM or Ctrl-C stops it after the requests in flight.
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn
from pydantic import ValidationError

from analytics_settings import load_settings
from api.app import create_app

GRACEFUL_SHUTDOWN_SECONDS = 10


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m api", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="overrides ANALYTICS_API_HOST")
    parser.add_argument("--port", type=int, help="overrides ANALYTICS_API_PORT")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in (("api_host", args.host), ("api_port", args.port)) if v}
    try:
        settings = load_settings(**overrides)
    except ValidationError as error:
        print(f"api: invalid settings:\n{error}", file=sys.stderr)
        return 2
    if not settings.api_keys:
        logging.getLogger("api").warning(
            "no API keys configured: every /v1 request will get 401; set ANALYTICS_API_KEYS=name=key,…")
    # The access log would name client addresses; each request is logged with its key's name instead.
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, access_log=False,
                log_config=None, timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, server_header=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
