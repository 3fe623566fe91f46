"""What the HTTP API serves from: the champions by alias, and the served warehouse.

A long-lived process must follow two things that change under it. The registry: a champion is resolved
again by its alias at most every ``champion_check_seconds`` (a few SQLite reads; a version's model is
loaded once, by :func:`ml.registry.load_model`), so a promotion or a roll back is served within seconds,
without a restart. The warehouse: it is attached read-only and re-attached when a new version is published
(:class:`metrics.warehouse.ServedWarehouse` compares the file's identity before each use).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from datetime import date
from typing import Any

import duckdb
import pandas as pd

from analytics_settings import Settings
from metrics.warehouse import ServedWarehouse
from ml.features import FEATURE_SET_VERSION, build_features
from ml.population import scoring_date
from ml.registry import Champion, load_model

# How stale a served champion may be after a promotion. Resolving the alias costs a few milliseconds of
# SQLite reads: per request it would be most of a one-user prediction's time.
CHAMPION_CHECK_SECONDS = 2.0


class NotServableError(RuntimeError):
    """What the API needs is not there yet (a warehouse, scores, a champion of the current feature set);
    the message says what to run."""


class Serving:
    """The champions and the served warehouse of one API process (thread-safe). Without a published
    warehouse, its readers raise :class:`metrics.errors.WarehouseNotFoundError` (it says what to build)."""

    def __init__(self, settings: Settings, champion_check_seconds: float = CHAMPION_CHECK_SECONDS) -> None:
        self.settings = settings
        self.warehouse = ServedWarehouse(settings.served_warehouse)
        self._champion_check_seconds = champion_check_seconds
        self._champions: dict[str, tuple[Champion, float]] = {}
        self._lock = threading.Lock()

    def champion(self, name: str) -> Champion:
        """The champion of ``name`` as the registry had it at most ``champion_check_seconds`` ago; raises
        :class:`ml.registry.NoChampionError` (it says what to train) or :class:`NotServableError`."""
        with self._lock:
            cached = self._champions.get(name)
        if cached is not None and time.monotonic() - cached[1] < self._champion_check_seconds:
            return cached[0]
        champion = load_model(name, self.settings)
        if champion.model.feature_set_version != FEATURE_SET_VERSION:
            raise NotServableError(
                f"the {name} champion (version {champion.version}) reads feature set "
                f"{champion.model.feature_set_version}, this code builds feature set {FEATURE_SET_VERSION}; "
                f"train one on the current features: python -m ml train {name}")
        with self._lock:
            self._champions[name] = (champion, time.monotonic())
        return champion

    def features_now(self, user_ids: Sequence[str]) -> tuple[date, pd.DataFrame]:
        """The scoring date ("now": the day after the latest loaded arrival day) and the features as of it
        of those of ``user_ids`` the warehouse knows (one row each, in no particular order)."""
        with self.warehouse.connection() as connection:
            try:
                as_of = scoring_date(connection)
            except LookupError as error:  # no events loaded yet
                raise NotServableError(str(error)) from None
            features = build_features(connection, as_of, list(user_ids),
                                      inactivity_minutes=self.settings.session_inactivity_minutes)
        return as_of, features

    def latest_scores(self, user_id: str) -> dict[str, Any] | None:
        """The user's row of ``marts.fct_user_scores`` with the latest ``as_of_date``; None when it has none."""
        with self.warehouse.connection() as connection:
            try:
                result = connection.execute(
                    "select * from marts.fct_user_scores where user_id = $user_id order by as_of_date desc limit 1",
                    {"user_id": user_id})
            except duckdb.CatalogException:
                raise NotServableError(
                    f"the served warehouse {self.settings.served_warehouse} has no scores yet: score the users "
                    "(python -m ml score) and build the warehouse (make pipeline)") from None
            columns = [column[0] for column in result.description]
            rows = result.fetchall()
        return dict(zip(columns, rows[0], strict=True)) if rows else None

    def close(self) -> None:
        self.warehouse.close()
