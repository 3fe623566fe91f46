"""A funnel's `entry` is validated when the project compiles: an unknown value names the funnel and the fix."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

from analytics_settings import load_settings
from warehouse.project import DBT_EXECUTABLE, DBT_PROJECT_DIR, dbt_environment


def test_an_unknown_funnel_entry_stops_the_build_naming_the_funnel(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path, warehouse_path=tmp_path / "analytics.duckdb")
    funnels = [{"name": "browse_to_cart", "conversion_window_days": 1, "entry": "first_ever",
                "steps": ["Product Viewed", "Product Added"]},
               {"name": "trial_to_paid", "conversion_window_days": 14, "entry": "every_time",
                "steps": ["Trial Started", "Order Completed"]}]
    completed = subprocess.run(
        [DBT_EXECUTABLE, "compile", "--select", "fct_funnel_progress", "--target-path", str(tmp_path / "target"),
         "--vars", json.dumps({"funnels": funnels})],
        cwd=DBT_PROJECT_DIR, env=os.environ | dbt_environment(settings), capture_output=True, text=True, check=False)
    assert completed.returncode != 0
    assert ("funnel 'trial_to_paid' in vars.funnels of dbt_project.yml: entry 'every_time' is not one of "
            "each_in_range, first_ever (leave it out for each_in_range)") in completed.stdout
