"""The model registry: what a model kind hands over for training, and the champion that scoring and
serving load.

Registered models (`churn`, `ltv`, `segments`) carry two aliases, never stages: `challenger`, the latest
version that passed its gates, and `champion`, the version every reader loads. Promoting moves
`champion` (rolling back is promoting an older version); readers resolve the alias on every load, so a
long-lived process (the API) notices a new champion without a restart.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from datetime import date
from importlib.metadata import version as installed_version
from typing import TYPE_CHECKING, Any, Protocol

import mlflow
import numpy as np
import pandas as pd
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE, RESOURCE_DOES_NOT_EXIST, ErrorCode

from analytics_settings import Settings
from ml import tracking

if TYPE_CHECKING:
    from matplotlib.figure import Figure

CHAMPION = "champion"
CHALLENGER = "challenger"
MODEL_ARTIFACT = "model"
INPUT_EXAMPLE_ROWS = 5
# What MLflow answers for a model never registered, and for an alias not set.
NOT_FOUND = {ErrorCode.Name(RESOURCE_DOES_NOT_EXIST), ErrorCode.Name(INVALID_PARAMETER_VALUE)}
# The libraries a logged model needs, pinned to what trained it. Listing them spares MLflow's inference,
# which imports the model in a subprocess on every log (seconds per run).
MODEL_REQUIREMENTS = ("mlflow", "numpy", "pandas", "scikit-learn", "lightgbm", "pymc-marketing")


class ScoringModel(Protocol):
    """A trained model as it is logged (inside a pyfunc wrapper) and served."""

    kind: str
    feature_set_version: str
    feature_names: list[str]

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        """churn: calibrated probability; ltv: expected revenue over the horizon; segments: segment name."""
        ...


@dataclass
class TrainedModel:
    """What ModelKind.train returns: the model, its figures on the evaluation window and its evidence."""

    model: ScoringModel
    params: dict[str, Any]
    figures: dict[str, float]
    baseline_figures: dict[str, float]
    gate_failures: list[str]
    training_data: pd.DataFrame
    evaluation_data: pd.DataFrame
    snapshot_dates: list[date]
    evaluation_date: date
    plots: dict[str, Figure] = field(default_factory=dict)
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)


class ModelKind(Protocol):
    """A kind of model: how to train it as of a date, and how to score any version on a window."""

    name: str
    primary_figure: str
    higher_is_better: bool

    def train(self, settings: Settings, as_of: date | None = None) -> TrainedModel: ...

    def evaluate(self, model: ScoringModel, evaluation_data: pd.DataFrame) -> dict[str, float]: ...


@dataclass(frozen=True)
class Champion:
    """A registered version loaded by alias."""

    model: ScoringModel
    name: str
    version: int
    alias: str
    run_id: str


class NoChampionError(LookupError):
    """The registered model has no version under the alias yet."""


class ScoringModelWrapper(mlflow.pyfunc.PythonModel):
    """The pyfunc form of a ScoringModel: what MLflow logs, and what `mlflow models serve` could serve."""

    def __init__(self, scoring_model: ScoringModel) -> None:
        self.scoring_model = scoring_model

    def predict(self, context: Any, model_input: pd.DataFrame, params: dict[str, Any] | None = None) -> np.ndarray:
        return self.scoring_model.predict(model_input)


def log_model(model: ScoringModel, training_data: pd.DataFrame) -> ModelInfo:
    """Log ``model`` to the active run with a signature and an input example taken from its training data."""
    example = training_data[model.feature_names].head(INPUT_EXAMPLE_ROWS)
    # MLflow's schemas know strings, not pandas categories (it refuses a categorical example); the model
    # turns strings back into its categories, as it does for rows posted to the API.
    example = example.astype({column: str for column in example.columns
                              if isinstance(example[column].dtype, pd.CategoricalDtype)})
    return mlflow.pyfunc.log_model(
        name=MODEL_ARTIFACT, python_model=ScoringModelWrapper(model),
        signature=infer_signature(example, model.predict(example)), input_example=example,
        pip_requirements=[f"{package}=={installed_version(package)}" for package in MODEL_REQUIREMENTS])


def register(model_info: ModelInfo, name: str, settings: Settings) -> int:
    """Register the logged model as a new version of ``name`` under the alias `challenger`."""
    client = tracking.configure(settings)
    version = int(mlflow.register_model(model_info.model_uri, name).version)
    client.set_registered_model_alias(name, CHALLENGER, str(version))
    return version


def load_model(name: str, settings: Settings, alias: str = CHAMPION) -> Champion:
    """The version of ``name`` the alias points at now (the model itself is loaded once per version)."""
    client = tracking.configure(settings)
    try:
        found = client.get_model_version_by_alias(name, alias)
    except MlflowException as error:
        if error.error_code not in NOT_FOUND:
            raise
        raise NoChampionError(
            f"model {name!r} has no {alias} in {settings.mlflow_uri} yet; train one: python -m ml train {name}"
        ) from None
    model = _load_version(settings.mlflow_uri, name, int(found.version))
    return Champion(model=model, name=name, version=int(found.version), alias=alias, run_id=found.run_id)


@functools.lru_cache(maxsize=32)
def _load_version(store: str, name: str, version: int) -> ScoringModel:
    # A registered version never changes, so (store, name, version) is a safe cache key; mlflow is already
    # pointed at `store` by the caller.
    return mlflow.pyfunc.load_model(f"models:/{name}/{version}").unwrap_python_model().scoring_model


def versions(name: str, settings: Settings) -> list[int]:
    """The registered versions of ``name``, oldest first ([] when it was never registered)."""
    if not re.fullmatch(r"[\w.-]+", name):  # it becomes part of a search filter
        raise ValueError(f"{name!r} is not a model name; model names are letters, digits, '_', '.' and '-'")
    client = tracking.configure(settings)
    return sorted(int(found.version) for found in client.search_model_versions(f"name = '{name}'"))


def promote(name: str, version: int, settings: Settings) -> Champion:
    """Make ``version`` the champion of ``name`` (an older version: a roll back)."""
    client = tracking.configure(settings)
    known = versions(name, settings)
    if version not in known:
        listed = ", ".join(map(str, known)) or f"none: train one with python -m ml train {name}"
        raise ValueError(f"model {name!r} has no version {version}; its versions are {listed}")
    client.set_registered_model_alias(name, CHAMPION, str(version))
    challenger = client.get_registered_model(name).aliases.get(CHALLENGER)
    if challenger is not None and int(challenger) == version:
        # The challenger won: it is no longer a candidate against the champion.
        client.delete_registered_model_alias(name, CHALLENGER)
    return load_model(name, settings)
