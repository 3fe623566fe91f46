"""``python -m collector`` / ``analytics-collector``: serve the collector with uvicorn.

SIGTERM and SIGINT stop it gracefully: no new connections, in-flight requests drain, open landing files
are sealed.
"""

from __future__ import annotations

import argparse
import logging
import sys

import uvicorn
from pydantic import ValidationError

from analytics_settings import load_settings
from collector.app import create_app
from collector.observability import configure_logging

GRACEFUL_SHUTDOWN_SECONDS = 30


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m collector", description=__doc__.splitlines()[0])
    parser.add_argument("--host", help="overrides ANALYTICS_COLLECTOR_HOST")
    parser.add_argument("--port", type=int, help="overrides ANALYTICS_COLLECTOR_PORT")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    overrides = {k: v for k, v in (("collector_host", args.host), ("collector_port", args.port)) if v}
    try:
        settings = load_settings(**overrides)
    except ValidationError as error:
        print(f"collector: invalid settings:\n{error}", file=sys.stderr)
        return 2
    if not settings.write_keys:
        logging.getLogger("collector").warning(
            "no write keys configured: every request will get 401; set ANALYTICS_WRITE_KEYS=source=key,…")
    config = uvicorn.Config(
        create_app(settings), host=settings.collector_host, port=settings.collector_port,
        loop="uvloop", http="httptools", lifespan="on", access_log=False, log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, server_header=False,
    )
    uvicorn.Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
