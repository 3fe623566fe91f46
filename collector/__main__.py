"""``python -m collector`` / ``analytics-collector``: serve the collector with uvicorn.

SIGTERM and SIGINT stop it gracefully: no new connections, in-flight requests drain, open landing files
are sealed.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Iterator

import uvicorn
import uvicorn.server

from analytics_settings.command_line import server_settings
from collector.app import create_app
from collector.observability import configure_logging

GRACEFUL_SHUTDOWN_SECONDS = 30


class _Server(uvicorn.Server):
    """uvicorn's server, but a drained SIGTERM or SIGINT ends with status 0.

    uvicorn re-raises the signal once it has shut down, so a clean stop exits 143 (or 130), which service
    managers, `docker stop` and orchestrators record as a failure.
    """

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        previous = {sig: signal.signal(sig, self.handle_exit) for sig in uvicorn.server.HANDLED_SIGNALS}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)


def main(argv: list[str] | None = None) -> int:
    settings = server_settings("collector", __doc__.splitlines()[0], "write_keys", argv, configure_logging)
    config = uvicorn.Config(
        create_app(settings), host=settings.collector_host, port=settings.collector_port,
        loop="uvloop", http="httptools", lifespan="on", access_log=False, log_config=None,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS, server_header=False,
    )
    _Server(config).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
