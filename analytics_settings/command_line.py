"""The command-line start-up the platform's servers share (``python -m collector``, ``python -m api``)."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from analytics_settings import Settings, load_settings

INVALID_SETTINGS_EXIT = 2  # argparse's status for a bad command line


def server_settings(server: str, description: str, keys_setting: str, argv: Sequence[str] | None,
                    configure_logging: Callable[[str], None]) -> Settings:
    """The settings of ``python -m <server>``: ``--host``/``--port`` override ``ANALYTICS_<SERVER>_HOST`` /
    ``_PORT`` and ``--log-level`` goes to ``configure_logging``. Invalid settings exit with status 2 and the
    error; without keys (the ``keys_setting`` setting) a warning says that every request will get 401."""
    variable = f"ANALYTICS_{server.upper()}"
    parser = argparse.ArgumentParser(prog=f"python -m {server}", description=description)
    parser.add_argument("--host", help=f"overrides {variable}_HOST")
    parser.add_argument("--port", type=int, help=f"overrides {variable}_PORT")
    parser.add_argument("--log-level", default="INFO")
    args = parser.parse_args(argv)
    configure_logging(args.log_level)
    overrides = {name: value for name, value in ((f"{server}_host", args.host), (f"{server}_port", args.port))
                 if value}
    try:
        settings = load_settings(**overrides)
    except ValidationError as error:
        print(f"{server}: invalid settings:\n{error}", file=sys.stderr)
        raise SystemExit(INVALID_SETTINGS_EXIT) from None
    if not getattr(settings, keys_setting):
        logging.getLogger(server).warning(
            "no %s configured: every request that needs a key will get 401; set ANALYTICS_%s=name=key,…",
            keys_setting.replace("_", " "), keys_setting.upper())
    return settings
