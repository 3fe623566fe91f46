"""``python -m collector.generator``: generate traffic with known answers into the lake or the collector.

Examples::

    python -m collector.generator                                   # a day of traffic for 2,000 visitors
    python -m collector.generator --users 50000 --days 30 --start 2024-05-01 --seed 7
    python -m collector.generator --sink http                       # through a running collector
"""

from __future__ import annotations

import argparse
import sys
from datetime import UTC, date, datetime, timedelta

from analytics_settings import Settings, load_settings
from collector.generator.model import GeneratorConfig
from collector.generator.run import generate, run_folder
from collector.generator.sinks import HttpSink, LandingSink, SdkSink, Sink


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="analytics-generate", description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=2000, help="human visitors (bots come on top)")
    parser.add_argument("--days", type=int, default=1, help="days of traffic")
    parser.add_argument("--start", type=date.fromisoformat, default=None,
                        help="first day, YYYY-MM-DD (UTC); default: the range ends yesterday")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--sink", choices=("landing", "http", "sdk"), default="landing")
    parser.add_argument("--run-name", default=None, help="folder for the ground truth; default from the arguments")
    return parser.parse_args(argv)


def _write_key(settings: Settings) -> str:
    if not settings.write_keys:
        sys.exit("the http and sdk sinks need a write key: set ANALYTICS_WRITE_KEYS, e.g. web=wk_web")
    return settings.write_keys[0].key.get_secret_value()


def _sink(kind: str, settings: Settings, run_name: str) -> Sink:
    if kind == "landing":
        source = settings.write_keys[0].source_id if settings.write_keys else "generator"
        return LandingSink(settings.lake_path, source, writer_id=f"gen-{run_name}",
                           max_file_bytes=settings.landing_max_file_bytes)
    url = f"http://{settings.collector_host}:{settings.collector_port}"
    return HttpSink(url, _write_key(settings)) if kind == "http" else SdkSink(url, _write_key(settings))


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    settings = load_settings()
    start = args.start or datetime.now(UTC).date() - timedelta(days=args.days)
    try:
        config = GeneratorConfig(start=start, users=args.users, days=args.days, seed=args.seed)
    except ValueError as error:
        sys.exit(f"analytics-generate: {error}")
    run_name = args.run_name or f"{start.isoformat()}-{args.days}d-{args.users}u-seed{args.seed}"
    summary = generate(config, _sink(args.sink, settings, run_name), run_folder(settings.data_dir, run_name) / "truth")
    report = summary.sink
    print(f"generated {summary.events:,} events in {summary.sessions:,} sessions "
          f"({start} + {args.days} d, {args.users:,} users, seed {args.seed}) in {summary.seconds:.1f} s "
          f"({summary.events_per_second:,.0f} lines/s)")
    print(f"  duplicates {summary.duplicates:,}, malformed {summary.malformed:,}")
    print(f"  sink {report.mode}: {report.location}")
    if report.accepted is not None:
        print(f"  collector accepted {report.accepted:,}, rejected {report.rejected:,}, "
              f"failed requests {report.failed_requests}")
    print(f"  truth: {summary.truth_folder}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
