"""The command-line contract every lake job shares: UTC days as YYYY-MM-DD, and a JSON report printed on
stdout and written to ``--report FILE`` (what Dagster reads)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from datetime import date


def utc_day(value: str) -> str:
    """An argparse type: a YYYY-MM-DD day, with an error that says the format."""
    try:
        date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date; use YYYY-MM-DD") from None
    return value


def add_report_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--report", help="also write the report (JSON) to this file")


def emit_report(report: object, path: str | None) -> int:
    payload = asdict(report)
    if path:
        with open(path, "w") as handle:
            json.dump(payload, handle, indent=2)
    print(json.dumps(payload))
    return 0
