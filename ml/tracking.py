"""Where MLflow keeps runs, models and artifacts, configured from the settings.

By default a SQLite store under the data folder (``$ANALYTICS_DATA_DIR/mlflow/mlflow.db``, artifacts in
``$ANALYTICS_DATA_DIR/mlflow/artifacts``); ``ANALYTICS_MLFLOW_TRACKING_URI`` points at a tracking server
(or another database) at scale.
"""

from __future__ import annotations

import fcntl
import logging
from pathlib import Path

import mlflow
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from mlflow.tracking import MlflowClient

from analytics_settings import Settings

# A server keeps artifacts where it was told to; a database store opened by this process keeps them here.
SERVER_SCHEMES = ("http://", "https://", "databricks")


def configure(settings: Settings) -> MlflowClient:
    """Point MLflow (tracking and registry) at the settings' store, creating a SQLite store once."""
    uri = settings.mlflow_uri
    # Store creation logs every alembic migration at INFO; a training run has better things to say.
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Warnings about what is deliberate here: models are pickled objects (they are our own code), and
    # their requirements are pinned without pip's own version.
    for name in ("mlflow.pyfunc", "mlflow.utils.environment"):
        logging.getLogger(name).setLevel(logging.ERROR)
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    if uri.startswith("sqlite:"):
        return _create_sqlite_store_once(uri, Path(uri.removeprefix("sqlite:///")))
    return MlflowClient(tracking_uri=uri, registry_uri=uri)


def _create_sqlite_store_once(uri: str, database: Path) -> MlflowClient:
    """A client of the SQLite store, its tracking and registry stores opened under a lock beside it.

    The first open of an empty SQLite store creates the tables and runs every migration; MLflow's tracking
    store does so without a lock, so two processes starting at once (a training run, the API, the UI) fail
    with "table already exists". Later opens find the tables and only wait for the lock for a moment.
    """
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.with_name(f"{database.name}.init.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            client = MlflowClient(tracking_uri=uri, registry_uri=uri)  # opens the tracking store
            client.search_registered_models(max_results=1)  # opens the registry store
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return client


def experiment_id(client: MlflowClient, name: str, settings: Settings) -> str:
    """The id of experiment ``name`` (one per model kind), created on first use."""
    found = client.get_experiment_by_name(name)
    if found is not None:
        return found.experiment_id
    local_store = not settings.mlflow_uri.startswith(SERVER_SCHEMES)
    artifacts = (settings.mlflow_artifacts / name).as_uri() if local_store else None
    try:
        return client.create_experiment(name, artifact_location=artifacts)
    except MlflowException as error:  # another process created it between the two calls
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
        return client.get_experiment_by_name(name).experiment_id


def run_link(settings: Settings, experiment: str, run_id: str) -> str:
    """The run's page in the MLflow UI that `make up` serves."""
    return f"http://127.0.0.1:{settings.mlflow_ui_port}/#/experiments/{experiment}/runs/{run_id}"
