"""Trackers beside Ray's files: MLflow runs in a local store and W&B offline runs, one per trial, no server."""

from __future__ import annotations


import pytest

from v2f_bench.cli import main
from v2f_bench.errors import UserError
from v2f_bench.trackers import Tracking

pytestmark = pytest.mark.usefixtures("ray_shared")


@pytest.mark.slow
def test_log_mlflow_and_wandb_write_one_run_per_trial_locally(prepared_dir, tmp_path, monkeypatch):
    from mlflow.tracking import MlflowClient

    monkeypatch.delenv("WANDB_MODE", raising=False)
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.delenv("WANDB_DIR", raising=False)
    run_dir = tmp_path / "run"
    code = main(["tune", "voice", "--prepared", str(prepared_dir), "--run-dir", str(run_dir), "--trials", "2", "--max-epochs", "2",
                 "--storage", str(tmp_path / "searches"), "--name", "tracked", "--log", "mlflow", "--log", "wandb"])
    assert code == 0
    client = MlflowClient(tracking_uri=f"sqlite:///{run_dir.resolve() / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("tracked")
    runs = client.search_runs([experiment.experiment_id])
    assert len(runs) == 2
    assert all("val_clip_accuracy" in run.data.metrics and "lr" in run.data.params for run in runs)
    offline = sorted((run_dir / "wandb" / "wandb").glob("offline-run-*")) or sorted((run_dir / "wandb").glob("offline-run-*"))
    assert len(offline) == 2, list((run_dir / "wandb").rglob("*"))[:20]
    assert all(list(run.glob("*.wandb")) for run in offline), "each offline run holds its log"


def test_tracking_mistakes_are_one_line():
    with pytest.raises(UserError, match="--mlflow-uri needs --log mlflow"):
        Tracking(kinds=("wandb",), mlflow_uri="sqlite:///x.db").validate()
    with pytest.raises(UserError, match="choose from mlflow, wandb"):
        Tracking(kinds=("comet",)).validate()
