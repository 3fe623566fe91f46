"""What the ML stage writes for the warehouse, and how it reaches readers: through a build, never the served
file.

An output (:class:`Output`) is a function that reads a warehouse file (the build copy, during a build) and
writes Parquet in its own folder under ``$ANALYTICS_DATA_DIR/ml/`` (``settings.ml_outputs_dir``), and the dbt
mart that reads those files (through a source ``ml.<name>`` in ``dbt_project/models/marts/_ml_sources.yml``).
:func:`write_and_build` runs outputs on a build copy and builds their marts in it; the daily Dagster build
calls it after dbt and before the publish, so outputs reach readers with the marts they were computed from,
and :func:`publish` does the same on demand (``python -m ml score``): a new build of the served warehouse that
only writes the outputs and rebuilds their marts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from analytics_settings import Settings


@dataclass(frozen=True)
class Output:
    """One ML output: ``name`` is its dbt source table (``ml.<name>``) and its Dagster asset (``ml/<name>``);
    ``write(warehouse, settings)`` writes its files (in the folder its source reads, e.g. ``ml/scores/`` for
    ``user_scores``) and returns a summary whose ``metadata()`` (a dict of figures and paths) the Dagster
    asset shows; ``mart`` is the dbt model that reads the files."""

    name: str
    mart: str
    write: Callable[[Path, Settings], Any]


def daily_outputs() -> list[Output]:
    """The outputs every daily build writes, in order: the users' scores."""
    from ml.scoring import scores_output

    return [scores_output()]


def write_and_build(outputs: Sequence[Output], warehouse: Path, target_path: Path, settings: Settings,
                    dbt_args: Sequence[str]) -> dict[str, Any]:
    """Write every output from ``warehouse`` (a build copy), then build their marts in it with one dbt run of
    ``dbt_args`` (the build's own arguments); each output's summary by name."""
    from warehouse.project import run_dbt

    summaries = {output.name: output.write(warehouse, settings) for output in outputs}
    run_dbt([*dbt_args, "--select", *(output.mart for output in outputs), "--target-path", str(target_path)],
            settings)
    return summaries


def publish(outputs: Sequence[Output], settings: Settings) -> dict[str, Any]:
    """Write the outputs from the served warehouse's data and publish them through a new build of it (the
    build copy is the served file until dbt reads the outputs in), never by writing into the served file."""
    from warehouse import build_args, building

    if not settings.served_warehouse.exists():
        raise ValueError(f"{settings.served_warehouse} does not exist yet; run `make pipeline` first")
    with building(settings) as build:
        return write_and_build(outputs, build.file, build.target_path, settings, build_args(settings))
