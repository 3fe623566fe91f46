"""How the dbt project is invoked: its folder, the environment its profile reads, and the build command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from analytics_settings import REPO_ROOT, Settings

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"
MANIFEST = DBT_PROJECT_DIR / "target" / "manifest.json"
DBT_EXECUTABLE = str(Path(sys.executable).with_name("dbt"))


def dbt_environment(settings: Settings) -> dict[str, str]:
    """The variables `dbt_project/profiles.yml` and the sources read, from the settings."""
    lake_root = settings.lake_root
    if "://" not in lake_root:
        lake_root = str(Path(lake_root).resolve())
    return {
        "DBT_PROFILES_DIR": str(DBT_PROJECT_DIR),
        "DBT_PROJECT_DIR": str(DBT_PROJECT_DIR),
        "DBT_LAKE_ROOT": lake_root,
        "DBT_ML_OUTPUTS_DIR": str(settings.ml_outputs_dir.resolve()),
        "DBT_WAREHOUSE_BUILD_FILE": str(settings.build_warehouse.resolve()),
        "DBT_WAREHOUSE_SERVED_FILE": str(settings.served_warehouse.resolve()),
        "DBT_DUCKDB_MEMORY_LIMIT": settings.duckdb_memory_limit,
        "DBT_DUCKDB_THREADS": str(settings.duckdb_threads),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }


def build_args(settings: Settings, arrival_day_from: str | None = None, arrival_day_to: str | None = None,
               full_refresh: bool = False) -> list[str]:
    """`dbt build` for the arrival days ``arrival_day_from``..``arrival_day_to`` (every day when unset).

    A full refresh rebuilds every table from all of bronze, whatever days are given.
    """
    variables: dict[str, object] = {"session_inactivity_minutes": settings.session_inactivity_minutes,
                                    "reporting_currency": settings.reporting_currency,
                                    "exchange_rates_path": exchange_rates_path(settings),
                                    "provisional_days": settings.provisional_days}
    if full_refresh:
        return ["build", "--full-refresh", "--vars", json.dumps(variables)]
    variables |= {"arrival_day_from": arrival_day_from, "arrival_day_to": arrival_day_to or arrival_day_from}
    return ["build", "--vars", json.dumps(variables)]


def exchange_rates_path(settings: Settings) -> str | None:
    """The user's rates file as dbt reads it (dbt runs in its project folder: a local path is made absolute)."""
    path = settings.exchange_rates_path
    if not path or "://" in path:
        return path
    resolved = Path(path).expanduser().resolve()
    if resolved.suffix.lower() not in {".csv", ".parquet"} or not resolved.is_file():
        raise ValueError(f"ANALYTICS_EXCHANGE_RATES_PATH={path!r} is not a .csv or .parquet file; point it at a file "
                         "with the columns rate_date, currency, units_per_eur, or unset it to use the shipped rates")
    return str(resolved)


def ensure_manifest(settings: Settings) -> Path:
    """``target/manifest.json``, parsed again when a project file is newer (Dagster reads it at load)."""
    newest = max(path.stat().st_mtime for path in DBT_PROJECT_DIR.rglob("*")
                 if path.is_file() and path.suffix in {".sql", ".yml", ".md", ".csv"}
                 and "target" not in path.relative_to(DBT_PROJECT_DIR).parts)
    if not MANIFEST.exists() or MANIFEST.stat().st_mtime < newest:
        run_dbt(["parse", "--quiet"], settings)
    return MANIFEST


def run_dbt(args: list[str], settings: Settings) -> None:
    """Run the dbt CLI in the project with the settings' environment; its output goes to ours."""
    completed = subprocess.run([DBT_EXECUTABLE, *args], cwd=DBT_PROJECT_DIR,
                               env=os.environ | dbt_environment(settings), check=False)
    if completed.returncode != 0:
        raise RuntimeError(f"`dbt {' '.join(args)}` failed with exit code {completed.returncode}; "
                           "its log is above and in dbt_project/logs/dbt.log")
