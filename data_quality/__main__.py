"""Run quality suites by hand, and build the data docs.

    python -m data_quality validate ASSET DAY [DAY …] [--json]   # e.g. bronze/events 2024-03-11
    python -m data_quality docs [--serve] [--port 8082]           # prints the path of index.html; serves it
    python -m data_quality list                                   # the suites, and what blocks and what warns
    python -m data_quality accept ASSET DAY --reason "..." [--by NAME] [--rule RULE …]   # let a blocked day go on

``validate`` checks its days in one pass, prints each expectation's verdict per day, the seconds it took
and the process's peak memory, and
exits 1 when a blocking expectation failed that nobody accepted (2 for a usage error). ``accept`` records
who accepts the blocking failures of an asset on a day and why (``data_quality/acceptances.py``); the next
run of that day passes its check with the acceptance in the metadata.
"""

from __future__ import annotations

import argparse
import functools
import json
import resource
import sys
import time
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from analytics_settings import load_settings
from data_quality import SUITES, build_data_docs, validate_days
from data_quality.acceptances import accept
from data_quality.registry import gates_table

DOCS_PORT = 8082


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m data_quality", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("validate", help="validate partitions of an asset")
    run.add_argument("asset", choices=sorted(SUITES))
    run.add_argument("days", nargs="+", help="UTC days, YYYY-MM-DD")
    run.add_argument("--json", action="store_true", help="print each result as one JSON line")
    docs = commands.add_parser("docs", help="update the data docs site and print the path of its index.html")
    docs.add_argument("--serve", action="store_true", help="then serve the site on 127.0.0.1 until interrupted")
    docs.add_argument("--port", type=int, default=DOCS_PORT)
    commands.add_parser("list", help="list the suites, and what blocks and what warns")
    acceptance = commands.add_parser("accept", help="accept the blocking failures of an asset on a day")
    acceptance.add_argument("asset", choices=sorted(SUITES))
    acceptance.add_argument("day", help="the UTC day (arrival day; session day for marts), YYYY-MM-DD")
    acceptance.add_argument("--reason", required=True, help="why the day's data may go on as it is")
    acceptance.add_argument("--by", help="who accepts (default: your login name)")
    acceptance.add_argument("--rule", action="append", default=[], dest="rules",
                            help="accept only this blocking rule (repeatable; default: every blocking rule)")
    args = parser.parse_args(argv)

    if args.command == "list":
        for info in SUITES.values():
            print(f"{info.asset:<26} {info.suite_name:<26} partition: {info.partition}")
        print(f"\n{gates_table()}")
        return 0
    if args.command == "accept":
        try:
            accepted = accept(load_settings(), args.asset, args.day, args.reason, args.by, tuple(args.rules))
        except ValueError as error:
            parser.error(str(error))
        print(f"{accepted.asset} {accepted.day}: {accepted.summary}; run the day again (make pipeline, or "
              "re-execute its run in the Dagster UI)")
        return 0
    if args.command == "docs":
        index = build_data_docs()
        print(index, flush=True)
        if args.serve:
            serve(index.parent, args.port)
        return 0
    started = time.perf_counter()
    try:
        results = validate_days(args.asset, args.days)  # several days: one pass
    except ValueError as error:
        parser.error(str(error))
    if not args.json:
        print(f"{args.asset}: {len(results)} days in {time.perf_counter() - started:.1f} s, peak memory "
              f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
    blocked = False
    for result in results:
        blocked |= result.severity == "blocking"
        if args.json:
            print(json.dumps(result.to_dict()))
            continue
        print(f"{result.asset} {result.partition}: {'passed' if result.success else 'FAILED'}"
              f"{f' ({result.severity})' if result.severity else ''} in {result.seconds:.1f} s")
        for expectation in result.expectations:
            print(f"  {expectation.summary}")
            for row in expectation.sample[:3]:
                print(f"      {row}")
        print(f"  facts: {json.dumps(result.facts)}")
        print(f"  page: {result.docs_page}")
    return 1 if blocked else 0


def serve(site: Path, port: int) -> None:
    handler = functools.partial(_QuietHandler, directory=str(site))
    with ThreadingHTTPServer(("127.0.0.1", port), handler) as server:
        print(f"data docs: http://127.0.0.1:{port}", flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # no line per request on the terminal
        pass


if __name__ == "__main__":
    sys.exit(main())
