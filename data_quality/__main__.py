"""Run quality suites by hand, and build the data docs.

    python -m data_quality validate ASSET DAY [DAY …] [--json]   # e.g. bronze/events 2024-03-11
    python -m data_quality docs [--serve] [--port 8082]           # prints the path of index.html; serves it
    python -m data_quality list                                   # the suites and what a partition is

``validate`` prints each expectation's verdict, the seconds it took and the process's peak memory, and
exits 1 when a blocking expectation failed (2 for a usage error).
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

from data_quality import SUITES, build_data_docs, validate

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
    commands.add_parser("list", help="list the suites")
    args = parser.parse_args(argv)

    if args.command == "list":
        for info in SUITES.values():
            print(f"{info.asset:<26} {info.suite_name:<26} partition: {info.partition}")
        return 0
    if args.command == "docs":
        index = build_data_docs()
        print(index, flush=True)
        if args.serve:
            serve(index.parent, args.port)
        return 0
    blocked = False
    for day in args.days:
        started = time.perf_counter()
        try:
            result = validate(args.asset, day)
        except ValueError as error:
            parser.error(str(error))
        blocked |= result.severity == "blocking"
        if args.json:
            print(json.dumps(result.to_dict()))
            continue
        print(f"{result.asset} {result.partition}: {'passed' if result.success else 'FAILED'}"
              f"{f' ({result.severity})' if result.severity else ''} in {time.perf_counter() - started:.1f} s, "
              f"peak memory {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
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
