"""One training run of a model kind, as an MLflow experiment with a promotion decision.

    trained = kind.train(settings, as_of)        # data as of a date, fit, figures next to a baseline
    -> one MLflow run: params, feature-set version, snapshot dates, training data hash, figures, plots,
       tables, the model (signature + input example), the git commit
    -> gates failed: recorded, not registered
    -> else version N with alias `challenger`, and `champion` when there is none yet or when it beats the
       champion re-scored on the same evaluation window
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
from collections.abc import Iterator, MutableMapping
from dataclasses import dataclass
from datetime import date

import mlflow
import pandas as pd
from matplotlib import pyplot
from mlflow.data.code_dataset_source import CodeDatasetSource
from mlflow.data.pandas_dataset import PandasDataset
from mlflow.models import infer_signature
from mlflow.tracking.context.registry import resolve_tags

from analytics_settings import REPO_ROOT, Settings
from ml import registry, tracking
from ml.registry import CHALLENGER, CHAMPION, ModelKind, NoChampionError, TrainedModel


class ModelKinds(MutableMapping[str, ModelKind]):
    """Model kinds by registered name; a kind's module (and its libraries) is imported on first use."""

    def __init__(self, modules: dict[str, str]) -> None:
        self._kinds: dict[str, ModelKind | str] = dict(modules)

    def __getitem__(self, name: str) -> ModelKind:
        kind = self._kinds[name]
        if isinstance(kind, str):
            kind = self._kinds[name] = importlib.import_module(kind).KIND
        return kind

    def __setitem__(self, name: str, kind: ModelKind) -> None:
        self._kinds[name] = kind

    def __delitem__(self, name: str) -> None:
        del self._kinds[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._kinds)

    def __len__(self) -> int:
        return len(self._kinds)


KINDS = ModelKinds({"churn": "ml.churn", "ltv": "ml.ltv", "segments": "ml.segments"})
SCHEMA_SAMPLE_ROWS = 1000


class LoggedData(PandasDataset):
    """A run's training or evaluation data as MLflow records it: a digest of every row and the schema of the
    first ``SCHEMA_SAMPLE_ROWS``.

    MLflow's own digest hashes only the first 10,000 rows (after reading every cell's type in Python), and its
    schema inference visits every cell: about 8 s of a training's CPU at 200k rows. The columns have one dtype
    each, so a sample gives the same schema; the vectorized hash of every row is cheaper and covers them all.
    """

    def __init__(self, frame: pd.DataFrame, name: str) -> None:
        super().__init__(df=frame, source=CodeDatasetSource(tags=resolve_tags()), name=name,
                         digest=frame_digest(frame))

    @property
    def schema(self):
        return infer_signature(self.df.head(SCHEMA_SAMPLE_ROWS)).inputs


def frame_digest(frame: pd.DataFrame) -> str:
    """A digest of every row, column name and dtype of ``frame``: 16 hex digits (MLflow's own has 8)."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    for column, dtype in frame.dtypes.items():
        digest.update(f"{column}:{dtype}".encode())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class RunOutcome:
    """What a training run produced and what the registry decided, in words."""

    run_id: str
    experiment_id: str
    version: int | None              # None: the run failed its gates and was not registered
    alias: str | None                # "champion", "challenger" or None
    decision: str
    figures: dict[str, float]
    baseline_figures: dict[str, float]
    champion_figures: dict[str, float]   # the champion before this run, re-scored on the same window


def run(kind: ModelKind, settings: Settings, as_of: date | None = None) -> RunOutcome:
    """Train ``kind`` as of ``as_of``, record the run in MLflow and decide its place in the registry."""
    trained = kind.train(settings, as_of)
    client = tracking.configure(settings)
    experiment = tracking.experiment_id(client, kind.name, settings)
    with mlflow.start_run(experiment_id=experiment, run_name=f"{kind.name} {trained.evaluation_date}") as active:
        log_evidence(kind, trained, as_of)
        model_info = registry.log_model(trained.model, trained.training_data)
        version, alias, decision, champion_figures = decide(kind, trained, model_info, settings)
        mlflow.set_tags({"decision": decision, "alias": alias or "none"})
    return RunOutcome(run_id=active.info.run_id, experiment_id=experiment, version=version, alias=alias,
                      decision=decision, figures=trained.figures, baseline_figures=trained.baseline_figures,
                      champion_figures=champion_figures)


def log_evidence(kind: ModelKind, trained: TrainedModel, as_of: date | None) -> None:
    """Everything needed to trust and reproduce the run: its inputs, figures, plots and tables."""
    model = trained.model
    commit = git_commit()
    mlflow.log_params({
        **trained.params,
        "as_of": as_of.isoformat() if as_of else "latest",
        "feature_set_version": model.feature_set_version,
        "snapshot_dates": ",".join(day.isoformat() for day in trained.snapshot_dates),
        "evaluation_date": trained.evaluation_date.isoformat(),
    })
    training = LoggedData(trained.training_data, name=f"{kind.name}_training")
    mlflow.log_input(training, context="training")
    mlflow.log_input(LoggedData(trained.evaluation_data, name=f"{kind.name}_evaluation"), context="evaluation")
    mlflow.set_tags({"kind": kind.name, "feature_set_version": model.feature_set_version,
                     "training_data_digest": training.digest, "git_commit": commit,
                     "mlflow.source.git.commit": commit})
    mlflow.log_metrics(trained.figures)
    mlflow.log_metrics({f"baseline_{name}": value for name, value in trained.baseline_figures.items()})
    for name, figure in trained.plots.items():
        mlflow.log_figure(figure, f"plots/{name}")
        pyplot.close(figure)
    for name, table in trained.tables.items():
        mlflow.log_text(table.to_csv(index=False), f"tables/{name}.csv")


def decide(kind: ModelKind, trained: TrainedModel, model_info: mlflow.models.model.ModelInfo,
           settings: Settings) -> tuple[int | None, str | None, str, dict[str, float]]:
    """Register a run that passed its gates and promote it when it beats the champion on the same window.

    Returns the version (None when not registered), its alias, the decision in words, and the champion's
    figures re-scored on this run's evaluation window.
    """
    if trained.gate_failures:
        reasons = "; ".join(trained.gate_failures)
        mlflow.set_tag("gate_failures", reasons)
        return None, None, f"recorded, not registered: {reasons}", {}
    version = registry.register(model_info, kind.name, settings)
    try:
        champion = registry.load_model(kind.name, settings)
    except NoChampionError:
        registry.promote(kind.name, version, settings)
        return version, CHAMPION, f"version {version} is the first {kind.name} model to pass its gates: champion", {}
    if champion.model.feature_set_version != trained.model.feature_set_version:
        registry.promote(kind.name, version, settings)
        return version, CHAMPION, (
            f"version {version} replaces champion version {champion.version}, which reads feature set "
            f"{champion.model.feature_set_version} (now {trained.model.feature_set_version}) and cannot be "
            "re-scored on the same window: champion"), {}
    # Both are scored by the same code on the same rows: old figures would come from another window.
    champion_figures = kind.evaluate(champion.model, trained.evaluation_data)
    mlflow.log_metrics({f"champion_{name}": value for name, value in champion_figures.items()})
    figure = kind.primary_figure
    challenger_figure = kind.evaluate(trained.model, trained.evaluation_data)[figure]
    champion_figure = champion_figures[figure]
    beats = challenger_figure > champion_figure if kind.higher_is_better else challenger_figure < champion_figure
    comparison = (f"{figure} {challenger_figure:.4f} vs {champion_figure:.4f} for champion version "
                  f"{champion.version}, both on the evaluation window of {trained.evaluation_date}")
    if beats:
        registry.promote(kind.name, version, settings)
        return version, CHAMPION, f"version {version} beats the champion ({comparison}): champion", champion_figures
    return version, CHALLENGER, (f"version {version} does not beat the champion ({comparison}): challenger, "
                                 f"version {champion.version} stays champion"), champion_figures


def git_commit() -> str:
    """The commit of the code that trains ("unknown" outside a git checkout)."""
    try:
        found = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                               check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return found.stdout.strip()
