"""ANALYTICS_PROVISIONAL_DAYS: read at run time, handed to dbt, never past the late-data window."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from analytics_settings import load_settings
from warehouse.project import build_args


def test_the_build_passes_the_provisional_days_to_dbt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_PROVISIONAL_DAYS", "2")
    for args in (build_args(load_settings(), "2024-03-05"), build_args(load_settings(), full_refresh=True)):
        assert json.loads(args[args.index("--vars") + 1])["provisional_days"] == 2


def test_provisional_days_cannot_exceed_the_lateness_window(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANALYTICS_MAX_LATENESS_DAYS", "3")
    monkeypatch.setenv("ANALYTICS_PROVISIONAL_DAYS", "4")
    with pytest.raises(ValidationError, match="ANALYTICS_PROVISIONAL_DAYS=4 exceeds ANALYTICS_MAX_LATENESS_DAYS=3"):
        load_settings()
    monkeypatch.setenv("ANALYTICS_PROVISIONAL_DAYS", "3")
    assert load_settings().provisional_days == 3
