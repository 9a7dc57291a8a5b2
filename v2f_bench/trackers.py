"""Experiment trackers beside Ray's own result files, through Ray Tune's logger callbacks.

- TensorBoard: always. Ray Tune writes an event file into every trial's folder (its default
  TBX logger, tensorboardX from the lock): ``tensorboard --logdir <storage>/<name>``.
- ``--log mlflow``: one MLflow run per trial (parameters, every reported metric per epoch), into
  a local store by default, ``sqlite:///<run-dir>/mlflow.db``, or the tracking URI given with
  ``--mlflow-uri``. The experiment is named after the search.
- ``--log wandb``: one W&B run per trial, grouped by search, in offline mode (files under
  ``<run-dir>/wandb``) unless the user configured W&B (``WANDB_MODE`` or ``WANDB_API_KEY`` set);
  ``wandb sync`` uploads an offline run later.

Nothing contacts a server unless the user configures one.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from v2f_bench.errors import UserError

TRACKERS = ("mlflow", "wandb")


@dataclass(frozen=True)
class Tracking:
    """Which trackers a search logs to, and where."""

    kinds: tuple[str, ...] = ()
    run_dir: Path = Path("runs")
    mlflow_uri: str | None = None

    def validate(self) -> None:
        unknown = [k for k in self.kinds if k not in TRACKERS]
        if unknown:
            raise UserError(f"--log {unknown[0]!r}: choose from {', '.join(TRACKERS)}")
        if self.mlflow_uri is not None and "mlflow" not in self.kinds:
            raise UserError("--mlflow-uri needs --log mlflow")

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow_uri or f"sqlite:///{(Path(self.run_dir) / 'mlflow.db').resolve()}"

    def prepare_environment(self) -> None:
        """W&B offline unless configured. Set in the driver's environment, and given to each W&B run as ``wandb.init``
        arguments (``callbacks``), since the logging actors of a Ray instance that was already running (``--address``)
        never see what the driver sets later."""
        if "wandb" in self.kinds and "WANDB_MODE" not in os.environ and "WANDB_API_KEY" not in os.environ:
            os.environ["WANDB_MODE"] = "offline"
        if "wandb" in self.kinds:
            wandb_dir = Path(self.run_dir).resolve() / "wandb"
            wandb_dir.mkdir(parents=True, exist_ok=True)
            os.environ.setdefault("WANDB_DIR", str(wandb_dir))

    def callbacks(self, search_name: str) -> list:
        """Ray Tune logger callbacks for the search ``search_name``."""
        out = []
        if "mlflow" in self.kinds:
            from ray.air.integrations.mlflow import MLflowLoggerCallback

            Path(self.run_dir).mkdir(parents=True, exist_ok=True)
            out.append(MLflowLoggerCallback(tracking_uri=self.mlflow_tracking_uri, experiment_name=search_name, save_artifact=False))
        if "wandb" in self.kinds:
            from ray.air.integrations.wandb import WandbLoggerCallback

            chosen = {key: os.environ[name] for key, name in (("mode", "WANDB_MODE"), ("dir", "WANDB_DIR")) if name in os.environ}
            out.append(WandbLoggerCallback(project="v2f_bench", group=search_name, **chosen))
        return out
