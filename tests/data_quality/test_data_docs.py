"""Results kept in the Great Expectations project and the data docs site built from them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from analytics_settings import Settings
from data_quality import build_data_docs, validate
from tests.conftest import free_port
from tests.data_quality.crafting import bronze_files, rewrite_parquet

pytestmark = pytest.mark.slow


def test_results_are_stored_and_the_site_shows_the_failed_expectation(crafted: Settings, lake: Path):
    rewrite_parquet(bronze_files(lake, "2024-03-11", "2024-03-11")[0],
                    "SELECT * FROM file UNION ALL (SELECT * FROM file ORDER BY message_id LIMIT 1)")
    failing = validate("bronze/events", "2024-03-11", crafted)
    passing = validate("gold/daily_event_rollup", "2024-03-12", crafted)

    project = crafted.data_dir / "quality" / "gx"
    stored = sorted(project.glob("uncommitted/validations/*/*/*/*.json"))
    assert [path.relative_to(project / "uncommitted" / "validations").parts[:2] for path in stored] == [
        ("bronze_events", "2024-03-11"), ("gold_daily_event_rollup", "2024-03-12")]
    kept = json.loads(stored[0].read_text())
    assert kept["success"] is False
    assert kept["meta"]["partition"] == "2024-03-11"
    assert kept["meta"]["skipped_rules"].keys() == {"volume_band"}
    assert sorted(json.loads(p.read_text())["name"] for p in project.glob("expectations/*.json")) == [
        "bronze_events", "gold_daily_event_rollup"]

    index = build_data_docs(crafted)
    assert index == project / "uncommitted" / "data_docs" / "local_site" / "index.html"
    site = index.read_text()
    assert "validations/bronze_events/2024-03-11/" in site and "validations/gold_daily_event_rollup/2024-03-12/" in site
    page = Path(failing.docs_page)
    assert page.exists() and Path(passing.docs_page).exists()
    html = page.read_text()
    assert "message_id_hash" in html and "Failed" in html
    assert (index.parent / "expectations" / "bronze_events.html").exists()


def test_a_build_renders_only_what_is_new(golden: Settings):
    first = validate("gold/daily_event_rollup", "2024-03-11", golden)
    build_data_docs(golden)
    page = Path(first.docs_page)
    rendered_at = page.stat().st_mtime_ns
    second = validate("gold/daily_event_rollup", "2024-03-12", golden)
    build_data_docs(golden)
    assert Path(second.docs_page).exists()
    assert page.stat().st_mtime_ns == rendered_at


def test_make_docs_serves_the_site_on_loopback(tmp_path: Path):
    """`python -m data_quality docs --serve` (what `make docs` starts next to the dbt docs)."""
    port = free_port()
    env = {**os.environ, "ANALYTICS_DATA_DIR": str(tmp_path)}
    server = subprocess.Popen([sys.executable, "-m", "data_quality", "docs", "--serve", "--port", str(port)],
                              env=env, stdout=subprocess.PIPE, text=True)
    try:
        index = Path(server.stdout.readline().strip())
        assert server.stdout.readline().strip() == f"data docs: http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/index.html", timeout=10) as response:
            assert response.status == 200 and response.read() == index.read_bytes()
    finally:
        server.kill()
        server.wait()
