"""The model lifecycle against a real MLflow SQLite store: runs, gates, champion and challenger, promotion
and roll back, readers in other processes, and concurrent first use of a fresh store.

The model kind here is small and real: a logistic regression on a seeded synthetic frame whose truth is
``P(label) = sigmoid(2 strong + weak)``; which columns a run may use sets its quality (on the shared
evaluation window: strong+weak AUC 0.878, strong 0.837, weak 0.643).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from analytics_settings import REPO_ROOT, Settings, load_settings
from ml import registry, tracking, training
from ml.registry import NoChampionError, TrainedModel

GOOD, WORSE, GATED = ("strong", "weak"), ("strong",), ("weak",)
EVALUATION_DATE = date(2024, 3, 18)
SNAPSHOTS = [date(2024, 3, 4), date(2024, 3, 11)]


def synthetic_frame(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({column: rng.normal(size=rows) for column in ("strong", "weak", "noise")})
    frame["label"] = rng.random(rows) < 1 / (1 + np.exp(-(2 * frame.strong + frame.weak)))
    frame["plan"] = pd.Categorical(rng.choice(["free", "pro"], size=rows))  # read, not used: a categorical input
    return frame


EVALUATION = synthetic_frame(2000, seed=1)  # the one evaluation window every run is scored on


@dataclass
class ToyModel:
    classifier: LogisticRegression
    columns: list[str]
    kind: str = "toy"
    feature_set_version: str = "1"

    @property
    def feature_names(self) -> list[str]:
        return [*self.columns, "plan"]

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return self.classifier.predict_proba(features[self.columns])[:, 1]


@dataclass
class ToyKind:
    columns: tuple[str, ...] = GOOD
    seed: int = 0
    name: str = "toy"
    min_auc: float = 0.75
    feature_set_version: str = "1"
    primary_figure: str = "roc_auc"
    higher_is_better: bool = True
    trained: list[TrainedModel] = field(default_factory=list)

    def train(self, settings: Settings, as_of: date | None = None) -> TrainedModel:
        data = synthetic_frame(1000, self.seed)
        model = fit(list(self.columns), data, self.seed)
        model.kind, model.feature_set_version = self.name, self.feature_set_version
        figures = self.evaluate(model, EVALUATION)
        baseline = {"roc_auc": roc_auc_score(EVALUATION.label, EVALUATION.weak)}
        failures = [f"roc_auc {figures['roc_auc']:.3f} below {self.min_auc}"] if figures["roc_auc"] < self.min_auc else []
        if figures["roc_auc"] <= baseline["roc_auc"]:
            failures.append("roc_auc not above the baseline's")
        plot = Figure()
        plot.add_subplot().plot([0, 1], [0, 1])
        calibration = pd.DataFrame({"bin": [0, 1], "predicted": [0.25, 0.75], "observed": [0.2, 0.8]})
        trained = TrainedModel(
            model=model, params={"columns": ",".join(self.columns), "seed": self.seed}, figures=figures,
            baseline_figures=baseline, gate_failures=failures, training_data=data, evaluation_data=EVALUATION,
            snapshot_dates=SNAPSHOTS, evaluation_date=EVALUATION_DATE, plots={"roc.png": plot},
            tables={"calibration": calibration})
        self.trained.append(trained)
        return trained

    def evaluate(self, model: registry.ScoringModel, evaluation_data: pd.DataFrame) -> dict[str, float]:
        predicted = model.predict(evaluation_data)
        return {"roc_auc": roc_auc_score(evaluation_data.label, predicted),
                "brier": brier_score_loss(evaluation_data.label, predicted)}


def fit(columns: list[str], data: pd.DataFrame, seed: int) -> ToyModel:
    return ToyModel(LogisticRegression(random_state=seed).fit(data[columns], data.label), columns)


def auc_of(columns: tuple[str, ...]) -> float:
    """The evaluation AUC of a model on ``columns``, fitted here, outside the code under test."""
    model = fit(list(columns), synthetic_frame(1000, 0), 0)
    return roc_auc_score(EVALUATION.label, model.predict(EVALUATION))


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, empty_mlflow_store) -> Settings:
    """One store for the module; each test registers its own model name."""
    settings = load_settings(data_dir=tmp_path_factory.mktemp("registry"))
    empty_mlflow_store(settings.data_dir)
    return settings


def aliases(settings: Settings, name: str) -> dict[str, int]:
    client = tracking.configure(settings)
    return {alias: int(version) for alias, version in client.get_registered_model(name).aliases.items()}


def test_first_run_becomes_champion_with_its_evidence_logged(settings: Settings) -> None:
    kind = ToyKind(GOOD, name="first")
    outcome = training.run(kind, settings, as_of=date(2024, 3, 20))

    assert (outcome.version, outcome.alias) == (1, "champion")
    assert outcome.decision == "version 1 is the first first model to pass its gates: champion"
    assert outcome.figures["roc_auc"] == pytest.approx(auc_of(GOOD)) == pytest.approx(0.8783476282)
    assert outcome.baseline_figures["roc_auc"] == roc_auc_score(EVALUATION.label, EVALUATION.weak)
    assert aliases(settings, "first") == {"champion": 1}

    champion = registry.load_model("first", settings)
    assert (champion.name, champion.version, champion.alias, champion.run_id) == ("first", 1, "champion", outcome.run_id)
    np.testing.assert_array_equal(champion.model.predict(EVALUATION), kind.trained[0].model.predict(EVALUATION))

    client = tracking.configure(settings)
    run = client.get_run(outcome.run_id)
    assert run.data.params == {"columns": "strong,weak", "seed": "0", "as_of": "2024-03-20",
                               "feature_set_version": "1", "snapshot_dates": "2024-03-04,2024-03-11",
                               "evaluation_date": "2024-03-18"}
    assert run.data.metrics == {**outcome.figures, "baseline_roc_auc": outcome.baseline_figures["roc_auc"]}
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True, text=True,
                            check=True).stdout.strip()
    assert run.data.tags["git_commit"] == run.data.tags["mlflow.source.git.commit"] == commit
    assert run.data.tags["decision"] == outcome.decision
    assert run.data.tags["kind"] == "first" and run.data.tags["feature_set_version"] == "1"
    inputs = {dataset.dataset.name: dataset.dataset for dataset in run.inputs.dataset_inputs}
    assert set(inputs) == {"first_training", "first_evaluation"}
    assert inputs["first_training"].digest == run.data.tags["training_data_digest"]
    assert json.loads(inputs["first_training"].profile)["num_rows"] == 1000
    logged = {artifact.path for folder in ("plots", "tables") for artifact in client.list_artifacts(outcome.run_id, folder)}
    assert logged == {"plots/roc.png", "tables/calibration.csv"}
    # Artifacts live under the data folder, never in the working directory.
    assert run.info.artifact_uri.startswith((settings.mlflow_artifacts / "first").as_uri())
    logged_model = mlflow.models.get_model_info("models:/first/1")
    assert logged_model.signature.inputs.to_dict() == [{"type": "double", "name": "strong", "required": True},
                                                       {"type": "double", "name": "weak", "required": True},
                                                       {"type": "string", "name": "plan", "required": True}]
    assert logged_model.saved_input_example_info is not None


def test_worse_run_stays_challenger_after_rescoring_the_champion(settings: Settings) -> None:
    first = training.run(ToyKind(GOOD, name="worse"), settings)
    outcome = training.run(ToyKind(WORSE, name="worse"), settings)

    assert (outcome.version, outcome.alias) == (2, "challenger")
    assert aliases(settings, "worse") == {"champion": 1, "challenger": 2}
    assert registry.load_model("worse", settings).version == 1
    # The champion was scored again on this run's window: its figures equal the first run's exactly.
    assert outcome.champion_figures == first.figures
    assert outcome.decision == (
        f"version 2 does not beat the champion (roc_auc {auc_of(WORSE):.4f} vs {auc_of(GOOD):.4f} for champion "
        "version 1, both on the evaluation window of 2024-03-18): challenger, version 1 stays champion")
    metrics = tracking.configure(settings).get_run(outcome.run_id).data.metrics
    assert metrics["champion_roc_auc"] == first.figures["roc_auc"]


def test_better_run_becomes_champion(settings: Settings) -> None:
    training.run(ToyKind(WORSE, name="better"), settings)
    outcome = training.run(ToyKind(GOOD, name="better"), settings)

    assert (outcome.version, outcome.alias) == (2, "champion")
    assert outcome.decision.startswith("version 2 beats the champion (roc_auc 0.8783 vs 0.8368")
    assert aliases(settings, "better") == {"champion": 2}  # the challenger that won is no longer a challenger
    assert registry.load_model("better", settings).version == 2


def test_a_new_feature_set_replaces_a_champion_that_cannot_be_rescored(settings: Settings) -> None:
    training.run(ToyKind(GOOD, name="refeatured"), settings)
    outcome = training.run(ToyKind(WORSE, name="refeatured", feature_set_version="2"), settings)

    assert (outcome.version, outcome.alias, outcome.champion_figures) == (2, "champion", {})
    assert outcome.decision == ("version 2 replaces champion version 1, which reads feature set 1 (now 2) and "
                                "cannot be re-scored on the same window: champion")
    assert registry.load_model("refeatured", settings).model.feature_set_version == "2"


def test_gated_run_is_recorded_but_not_registered(settings: Settings) -> None:
    training.run(ToyKind(GOOD, name="gated"), settings)
    outcome = training.run(ToyKind(GATED, name="gated"), settings)

    assert (outcome.version, outcome.alias) == (None, None)
    reasons = f"roc_auc {auc_of(GATED):.3f} below 0.75; roc_auc not above the baseline's"
    assert outcome.decision == f"recorded, not registered: {reasons}"
    run = tracking.configure(settings).get_run(outcome.run_id)
    assert run.data.tags["gate_failures"] == reasons
    assert run.data.metrics["roc_auc"] == pytest.approx(auc_of(GATED))
    assert registry.versions("gated", settings) == [1]
    assert aliases(settings, "gated") == {"champion": 1}


def test_gated_first_run_leaves_no_champion(settings: Settings) -> None:
    training.run(ToyKind(GATED, name="none"), settings)

    with pytest.raises(NoChampionError, match=r"model 'none' has no champion .*: python -m ml train none$"):
        registry.load_model("none", settings)
    assert registry.versions("none", settings) == []


def test_promote_and_roll_back(settings: Settings) -> None:
    training.run(ToyKind(GOOD, name="promoted"), settings)
    training.run(ToyKind(WORSE, name="promoted"), settings)

    assert registry.promote("promoted", 2, settings).version == 2
    assert aliases(settings, "promoted") == {"champion": 2}
    np.testing.assert_array_equal(registry.load_model("promoted", settings).model.predict(EVALUATION),
                                  fit(list(WORSE), synthetic_frame(1000, 0), 0).predict(EVALUATION))
    assert registry.promote("promoted", 1, settings).version == 1  # roll back
    assert registry.load_model("promoted", settings).version == 1
    with pytest.raises(ValueError, match=r"^model 'promoted' has no version 7; its versions are 1, 2$"):
        registry.promote("promoted", 7, settings)
    with pytest.raises(ValueError, match="has no version 1; its versions are none: train one with python -m ml"):
        registry.promote("never_trained", 1, settings)


def test_same_data_and_seed_give_the_same_figures(settings: Settings) -> None:
    first, second = (training.run(ToyKind(GOOD, seed=3, name="seeded"), settings) for _ in range(2))

    assert first.figures == second.figures
    client = tracking.configure(settings)
    digests = {client.get_run(outcome.run_id).data.tags["training_data_digest"] for outcome in (first, second)}
    assert len(digests) == 1
    other = training.run(ToyKind(GOOD, seed=4, name="seeded"), settings)
    assert client.get_run(other.run_id).data.tags["training_data_digest"] not in digests


def python(code: str, settings: Settings, **popen: object) -> subprocess.Popen:
    """A Python process in the repository with the test's data folder."""
    env = {"PATH": "/usr/bin:/bin", "ANALYTICS_DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, "-c", code], cwd=REPO_ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


READER = """
import sys
from analytics_settings import load_settings
from ml import registry
from tests.ml.test_registry import EVALUATION
settings = load_settings()
for line in sys.stdin:
    champion = registry.load_model("reader", settings)
    print(champion.version, round(float(champion.model.predict(EVALUATION)[0]), 12), flush=True)
"""


def test_a_running_process_sees_the_new_champion(settings: Settings) -> None:
    kind = ToyKind(GOOD, name="reader")
    training.run(kind, settings)
    training.run(ToyKind(WORSE, name="reader"), settings)
    reader = python(READER, settings, stdin=subprocess.PIPE)
    try:
        reader.stdin.write("load\n")
        reader.stdin.flush()
        first = reader.stdout.readline().split()
        registry.promote("reader", 2, settings)
        reader.stdin.write("load\n")
        reader.stdin.flush()
        second = reader.stdout.readline().split()
    finally:
        reader.stdin.close()
        reader.wait(timeout=60)
    assert reader.returncode == 0, reader.stderr.read()
    worse = fit(list(WORSE), synthetic_frame(1000, 0), 0)
    assert first == ["1", str(round(float(kind.trained[0].model.predict(EVALUATION)[0]), 12))]
    assert second == ["2", str(round(float(worse.predict(EVALUATION)[0]), 12))]


CONCURRENT_FIRST_USE = """
from analytics_settings import load_settings
from ml import tracking
settings = load_settings()
print("ready", flush=True)
input()  # every process opens the store at the same moment
client = tracking.configure(settings)
print(tracking.experiment_id(client, "toy", settings))
"""


def test_concurrent_first_use_of_a_fresh_store(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    processes = [python(CONCURRENT_FIRST_USE, settings, stdin=subprocess.PIPE) for _ in range(4)]
    assert [process.stdout.readline() for process in processes] == ["ready\n"] * 4
    for process in processes:
        process.stdin.write("go\n")
        process.stdin.flush()
    results = [(*process.communicate(timeout=180), process.returncode) for process in processes]

    assert [code for _, _, code in results] == [0, 0, 0, 0], [error for _, error, _ in results]
    assert {out.strip() for out, _, _ in results} == {"1"}  # one experiment (0 is MLflow's Default)
    assert (settings.data_dir / "mlflow" / "mlflow.db").exists()
    client = tracking.configure(settings)
    assert [experiment.name for experiment in client.search_experiments()] == ["toy", "Default"]


def test_git_commit_is_unknown_outside_a_checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(training, "REPO_ROOT", tmp_path)  # an installed copy of the code, not a checkout
    assert training.git_commit() == "unknown"


def test_the_training_data_digest_covers_every_row_and_the_schema_every_column() -> None:
    frame = synthetic_frame(20_000, seed=5)
    changed_last_row = frame.copy()
    changed_last_row.loc[len(frame) - 1, "noise"] += 1.0  # beyond the 10,000 rows MLflow's own digest reads

    logged = training.LoggedData(frame, name="toy_training")
    assert logged.digest == training.LoggedData(frame.copy(), name="other name").digest
    assert logged.digest != training.LoggedData(changed_last_row, name="toy_training").digest
    assert logged.digest != training.LoggedData(frame.astype({"noise": "float32"}), name="toy_training").digest
    assert logged.schema == mlflow.data.from_pandas(frame).schema  # the sample's schema is the whole frame's
    assert logged.profile["num_rows"] == 20_000
