"""Train, score and promote models without Dagster.

    python -m ml train churn|ltv|segments [--as-of YYYY-MM-DD]
    python -m ml score [--as-of YYYY-MM-DD]
    python -m ml promote NAME --version N

``train`` fits the model on data as of the date (default: the latest data whose labels are known), records
the run in MLflow and registers it when it passes its gates (`challenger`, or `champion` when it beats the
current champion on the same evaluation window). ``score`` scores every user with the champions.
``promote`` makes a registered version the champion: rolling back is promoting an older version.
"""

from __future__ import annotations

import argparse
import sys
from datetime import date

from analytics_settings import load_settings
from ml import registry, tracking, training
from spark_jobs.job_cli import utc_day


def as_of_day(value: str) -> date:
    return date.fromisoformat(utc_day(value))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ml", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    train = commands.add_parser("train", help="train a model, record the run in MLflow, register it if it passes")
    train.add_argument("kind", choices=list(training.KINDS), help="the model to train")
    train.add_argument("--as-of", type=as_of_day, help="train on what the warehouse knew before this day")
    score = commands.add_parser("score", help="score every user with the champions")
    score.add_argument("--as-of", type=as_of_day, help="score as of this day (default: the day after the data)")
    promote = commands.add_parser("promote", help="make a registered version the champion (also: roll back)")
    promote.add_argument("name", choices=list(training.KINDS), help="the registered model")
    promote.add_argument("--version", type=int, required=True, help="the version to make champion")
    args = parser.parse_args(argv)

    settings = load_settings()
    try:
        if args.command == "train":
            outcome = training.run(training.KINDS[args.kind], settings, args.as_of)
            print(describe(outcome))
            print(f"run: {tracking.run_link(settings, outcome.experiment_id, outcome.run_id)}")
        elif args.command == "score":
            from ml import scoring  # pulls in the warehouse readers only for this command

            print(scoring.main(settings=settings, as_of=args.as_of))
        else:
            champion = registry.promote(args.name, args.version, settings)
            print(f"{champion.name} version {champion.version} is now the champion (run {champion.run_id})")
    except (registry.NoChampionError, ValueError) as error:  # what a user can fix: no data, no model, no version
        sys.exit(f"ml {args.command}: {error}")
    return 0


def describe(outcome: training.RunOutcome) -> str:
    """The decision, then each figure next to the baseline's and the previous champion's."""
    lines = [outcome.decision]
    for name, value in outcome.figures.items():
        others = [f"{label} {figures[name]:.4f}" for label, figures in
                  (("baseline", outcome.baseline_figures), ("champion", outcome.champion_figures)) if name in figures]
        lines.append(f"  {name}: {value:.4f}" + (f" ({', '.join(others)})" if others else ""))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
