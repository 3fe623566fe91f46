"""`python -m ml` end to end in subprocesses against a real MLflow SQLite store.

`train` needs a model kind: the runner registers the small real kind of test_registry as `churn` (the
real churn kind needs a warehouse) and then runs the CLI's own `main`; `promote` and the errors run as
`python -m ml` itself.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from analytics_settings import REPO_ROOT, Settings, load_settings
from ml import registry
from tests.ml.test_registry import EVALUATION, GOOD, WORSE, auc_of

BASELINE_AUC = roc_auc_score(EVALUATION.label, EVALUATION.weak)
TRAIN_WITH_TOY_CHURN = """
import sys
from ml import training
from ml.__main__ import main
from tests.ml.test_registry import ToyKind
training.KINDS["churn"] = ToyKind(tuple(sys.argv[1].split(",")), name="churn")
sys.exit(main(sys.argv[2:]))
"""


@pytest.fixture
def settings(tmp_path: Path, empty_mlflow_store) -> Settings:
    empty_mlflow_store(tmp_path)
    return load_settings(data_dir=tmp_path)


def run(args: list[str], settings: Settings) -> subprocess.CompletedProcess:
    env = {"PATH": "/usr/bin:/bin", "ANALYTICS_DATA_DIR": str(settings.data_dir), "PYTHONPATH": str(REPO_ROOT),
           "ANALYTICS_MLFLOW_UI_PORT": "5055"}
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def train(columns: tuple[str, ...], settings: Settings) -> subprocess.CompletedProcess:
    return run(["-c", TRAIN_WITH_TOY_CHURN, ",".join(columns), "train", "churn", "--as-of", "2024-03-20"], settings)


def test_train_promote_and_roll_back_from_the_command_line(settings: Settings) -> None:
    first = train(GOOD, settings)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert lines[:3] == ["version 1 is the first churn model to pass its gates: champion",
                         f"  roc_auc: {auc_of(GOOD):.4f} (baseline {BASELINE_AUC:.4f})",
                         lines[2]]
    assert lines[2].startswith("  brier: ")
    run_id = registry.load_model("churn", settings).run_id
    assert lines[3].startswith("run: http://127.0.0.1:5055/#/experiments/") and lines[3].endswith(f"/runs/{run_id}")

    second = train(WORSE, settings)
    assert second.returncode == 0, second.stderr
    assert second.stdout.splitlines()[:2] == [
        (f"version 2 does not beat the champion (roc_auc {auc_of(WORSE):.4f} vs {auc_of(GOOD):.4f} for champion "
         "version 1, both on the evaluation window of 2024-03-18): challenger, version 1 stays champion"),
        f"  roc_auc: {auc_of(WORSE):.4f} (baseline {BASELINE_AUC:.4f}, champion {auc_of(GOOD):.4f})"]

    promoted = run(["-m", "ml", "promote", "churn", "--version", "2"], settings)
    assert promoted.returncode == 0, promoted.stderr
    assert promoted.stdout.startswith("churn version 2 is now the champion (run ")
    assert registry.load_model("churn", settings).version == 2

    rolled_back = run(["-m", "ml", "promote", "churn", "--version", "1"], settings)
    assert rolled_back.returncode == 0, rolled_back.stderr
    assert registry.load_model("churn", settings).version == 1

    missing = run(["-m", "ml", "promote", "churn", "--version", "9"], settings)
    assert (missing.returncode, missing.stdout) == (1, "")
    assert missing.stderr == "ml promote: model 'churn' has no version 9; its versions are 1, 2\n"


def test_command_line_errors_name_the_input_and_the_fix(settings: Settings) -> None:
    unknown = run(["-m", "ml", "train", "churm"], settings)
    assert unknown.returncode == 2
    assert "argument kind: invalid choice: 'churm' (choose from 'churn', 'ltv', 'segments')" in unknown.stderr

    bad_day = run(["-m", "ml", "train", "churn", "--as-of", "2024-13-01"], settings)
    assert bad_day.returncode == 2
    assert "argument --as-of: '2024-13-01' is not a date; use YYYY-MM-DD" in bad_day.stderr

    never_trained = run(["-m", "ml", "promote", "ltv", "--version", "1"], settings)
    assert never_trained.returncode == 1
    assert never_trained.stderr == ("ml promote: model 'ltv' has no version 1; its versions are none: train one "
                                    "with python -m ml train ltv\n")
