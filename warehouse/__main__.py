"""Build and publish the warehouse, or serve its docs, without Dagster.

    python -m warehouse build [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--full-refresh]
    python -m warehouse docs [--port 8081]

``build`` loads the given arrival days (every day when none is given) into a copy of the served
warehouse, runs every dbt test, and publishes the copy only when all passed. ``docs`` generates the dbt
docs site from the served warehouse and serves it on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys

from analytics_settings import load_settings
from spark_jobs.job_cli import utc_day
from warehouse.project import run_dbt
from warehouse.publish import build_and_publish

DOCS_PORT = 8081


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m warehouse", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="dbt build into the build copy, then publish it")
    build.add_argument("--from", dest="day_from", type=utc_day, help="first arrival day to load")
    build.add_argument("--to", dest="day_to", type=utc_day, help="last arrival day to load")
    build.add_argument("--full-refresh", action="store_true", help="rebuild every table from all of bronze")
    docs = commands.add_parser("docs", help="generate the dbt docs of the served warehouse and serve them")
    docs.add_argument("--port", type=int, default=DOCS_PORT)
    args = parser.parse_args(argv)

    settings = load_settings()
    try:
        if args.command == "build":
            served = build_and_publish(settings, args.day_from, args.day_to, args.full_refresh)
            print(f"published {served}")
        else:
            if not settings.served_warehouse.exists():
                sys.exit(f"warehouse docs: {settings.served_warehouse} does not exist yet; run `make pipeline` first")
            run_dbt(["docs", "generate", "--target", "serve"], settings)
            print(f"dbt docs: http://127.0.0.1:{args.port}", flush=True)
            run_dbt(["docs", "serve", "--target", "serve", "--host", "127.0.0.1", "--port", str(args.port),
                     "--no-browser"], settings)
    except RuntimeError as error:
        sys.exit(f"warehouse {args.command}: {error}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
