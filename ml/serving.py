"""What the HTTP API serves from: the champions by alias, and the served warehouse.

A long-lived process must follow two things that change under it. The registry: a champion is resolved
again by its alias once it is ``champion_check_seconds`` old, in a background thread while requests go on with
the one they have (the check opens the MLflow store: 20 ms, at times 300; a new version's model is loaded once,
by :func:`ml.registry.load_model`), so a promotion or a roll back is served within seconds, without a restart,
and no request waits for the registry but the first of each model. The warehouse: it is attached read-only and
re-attached when a new version is published (:class:`metrics.warehouse.ServedWarehouse` compares the file's
identity before each use).

Features by user id: rebuilding one user's point-in-time features scans the warehouse's events (hundreds of
milliseconds, more as it grows). The scoring of each warehouse build already computed every user's features as
of its scoring date and kept them (:func:`ml.scoring.features_path`), so the features of the served warehouse's
scoring date are held in memory, indexed by user id, and re-read when that file changes or a new warehouse (a
new scoring date) is published. Only a user missing from them, or a date without such a file, is rebuilt live.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd
import pyarrow.parquet as pq

from analytics_settings import Settings
from metrics.warehouse import ServedWarehouse
from ml.features import FEATURE_NAMES, FEATURE_SET_VERSION, build_features, model_input
from ml.population import scoring_date
from ml.registry import Champion, load_model
from ml.scoring import FEATURE_SET_METADATA, features_path

log = logging.getLogger(__name__)

# How old a served champion gets before its alias is resolved again (in the background: the check opens the
# MLflow store, 20 ms and at times 300, more than a one-user prediction's whole budget).
CHAMPION_CHECK_SECONDS = 2.0


class NotServableError(RuntimeError):
    """What the API needs is not there yet (a warehouse, scores, a champion of the current feature set);
    the message says what to run."""


@dataclass(frozen=True)
class StoredFeatures:
    """A scoring's features file in memory: ``rows`` indexed by user id, model dtypes."""

    path: Path
    identity: tuple[int, int, int]  # inode, size, mtime: a rewritten file is read again
    rows: pd.DataFrame | None       # None: the file holds another feature set


class Serving:
    """The champions and the served warehouse of one API process (thread-safe). Without a published
    warehouse, its readers raise :class:`metrics.errors.WarehouseNotFoundError` (it says what to build)."""

    def __init__(self, settings: Settings, champion_check_seconds: float = CHAMPION_CHECK_SECONDS) -> None:
        self.settings = settings
        self.warehouse = ServedWarehouse(settings.served_warehouse)
        self._champion_check_seconds = champion_check_seconds
        self._champions: dict[str, tuple[Champion, float]] = {}
        self._refreshing: set[str] = set()  # names being resolved again in the background
        self._lock = threading.Lock()
        # Both change only with a new warehouse version; they are read and replaced under the warehouse's lock.
        self._dated: tuple[duckdb.DuckDBPyConnection, date] | None = None
        self._stored: StoredFeatures | None = None

    def champion(self, name: str) -> Champion:
        """The champion of ``name`` as the registry had it about ``champion_check_seconds`` ago; raises
        :class:`ml.registry.NoChampionError` (it says what to train) or :class:`NotServableError`."""
        with self._lock:
            cached = self._champions.get(name)
            if (cached is not None and time.monotonic() - cached[1] >= self._champion_check_seconds
                    and name not in self._refreshing):
                self._refreshing.add(name)
                threading.Thread(target=self._refresh, args=(name,), name=f"champion-{name}", daemon=True).start()
        return cached[0] if cached is not None else self._resolve(name)

    def _resolve(self, name: str) -> Champion:
        champion = load_model(name, self.settings)
        if champion.model.feature_set_version != FEATURE_SET_VERSION:
            raise NotServableError(
                f"the {name} champion (version {champion.version}) reads feature set "
                f"{champion.model.feature_set_version}, this code builds feature set {FEATURE_SET_VERSION}; "
                f"train one on the current features: python -m ml train {name}")
        with self._lock:
            self._champions[name] = (champion, time.monotonic())
        return champion

    def _refresh(self, name: str) -> None:
        try:
            self._resolve(name)
        except Exception:  # the next request resolves it itself and answers with the error
            log.warning("could not resolve the %s champion again; the next request will", name, exc_info=True)
            with self._lock:
                self._champions.pop(name, None)
        finally:
            with self._lock:
                self._refreshing.discard(name)

    def features_now(self, user_ids: Sequence[str]) -> tuple[date, pd.DataFrame]:
        """The scoring date ("now": the day after the latest loaded arrival day) and the features as of it of
        those of ``user_ids`` the warehouse knows: one row each (in no particular order) with ``user_id``,
        :data:`ml.features.FEATURE_NAMES` and ``features_source`` ("stored": the scoring's file, "live")."""
        wanted = list(dict.fromkeys(user_ids))
        with self.warehouse.connection() as connection:
            as_of = self._scoring_date(connection)
            stored = self._stored_features(as_of)
            stored_ids = [user_id for user_id in wanted if stored is not None and user_id in stored.index]
            missing = [user_id for user_id in wanted if stored is None or user_id not in stored.index]
            found = [stored.loc[stored_ids].assign(features_source="stored")] if stored_ids else []
            if missing:
                live = build_features(connection, as_of, missing,
                                      inactivity_minutes=self.settings.session_inactivity_minutes)
                found.append(live.set_index("user_id")[FEATURE_NAMES].assign(features_source="live"))
        rows = found[0] if len(found) == 1 else pd.concat(found)
        return as_of, rows.rename_axis("user_id").reset_index()

    def _scoring_date(self, connection: duckdb.DuckDBPyConnection) -> date:
        # A query over every loaded event's arrival day: asked once per warehouse version (a publish re-opens
        # the connection), not per request. Holding the old connection keeps its identity from being reused.
        if self._dated is None or self._dated[0] is not connection:
            try:
                self._dated = (connection, scoring_date(connection))
            except LookupError as error:  # no events loaded yet
                raise NotServableError(str(error)) from None
        return self._dated[1]

    def _stored_features(self, as_of: date) -> pd.DataFrame | None:
        """The features the scoring kept for ``as_of`` (one ``stat`` per call, read again when the file changed);
        None without a file of this feature set."""
        path = features_path(self.settings, as_of)
        try:
            status = os.stat(path)
        except FileNotFoundError:
            return None
        identity = (status.st_ino, status.st_size, status.st_mtime_ns)
        if self._stored is None or (self._stored.path, self._stored.identity) != (path, identity):
            table = pq.read_table(path)
            version = (table.schema.metadata or {}).get(FEATURE_SET_METADATA, b"").decode()
            if version != FEATURE_SET_VERSION:
                log.warning("%s holds feature set %r, this code builds %s: features are rebuilt live until the "
                            "next scoring (python -m ml score)", path, version, FEATURE_SET_VERSION)
                self._stored = StoredFeatures(path, identity, None)
                return None
            frame = table.to_pandas()
            rows = model_input(frame[FEATURE_NAMES]).set_axis(pd.Index(frame["user_id"], name="user_id"))
            self._stored = StoredFeatures(path, identity, rows)
            log.info("serving the features of %d users as of %s from %s", len(rows), as_of, path)
        return self._stored.rows

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
