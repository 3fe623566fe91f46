"""`make docs`: the dbt docs site of the served warehouse, generated and served on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import free_port

pytestmark = pytest.mark.slow


def test_docs_site_describes_the_served_warehouse(golden_warehouse: Path, golden_lake: Path):
    port = free_port()
    environment = os.environ | {"ANALYTICS_WAREHOUSE_PATH": str(golden_warehouse), "ANALYTICS_LAKE_URI": str(golden_lake)}
    server = subprocess.Popen([sys.executable, "-m", "warehouse", "docs", "--port", str(port)], env=environment,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/catalog.json", timeout=2) as response:
                    catalog = json.load(response)
                break
            except OSError:
                assert server.poll() is None, "`python -m warehouse docs` exited"
                assert time.monotonic() < deadline, "the docs site did not answer within 120 s"
                time.sleep(0.5)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/manifest.json", timeout=5) as response:
            manifest = json.load(response)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(30)

    sessions = catalog["nodes"]["model.analytics.dim_sessions"]
    assert {"session_id", "user_key", "duration_seconds", "is_bounce"} <= set(sessions["columns"])
    models = {node["name"]: node for node in manifest["nodes"].values() if node["resource_type"] == "model"}
    assert {"fct_events", "dim_sessions", "fct_retention", "fct_funnels"} <= set(models)
    undocumented = [f"{name}.{column}" for name, node in models.items() for column, spec in node["columns"].items()
                    if not spec["description"]] + [name for name, node in models.items() if not node["description"]]
    assert undocumented == []
