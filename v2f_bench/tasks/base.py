"""The surface every task has: a searchable role (voice encoder training, judge training, a generator family).

A task gives, for each target of its role:

- ``names``: the targets it serves (``voice``; ``judge``; every registered family);
- ``target``: the target's declaration (``targets.Target``: typed hyperparameters, metric, direction);
- ``setup``: the trial data built from the prepared dataset and the earlier stages (``Context``), plus
  what the search records beside its results, the stage artifacts the report reads, and the settings
  every trial of a search gets (a ``TrialSetup``); ``selects``: what tells a trial its target;
- ``epochs``: a plain iterator over epochs, ``Epoch`` by ``Epoch``, whose training steps and evaluations
  go through the compute meter it is given (``compute.ComputeMeter``): the Ray trainable
  (``trainables.train_task``) reports each one, and loops outside Tune (benchmarks, GPU checks) iterate it;
- ``adopt``: how a finished trial becomes its stage (the voice stage, the judge stage); a generator trial is
  no stage (its rows go to the report); ``stage_settings``: the settings file (for the ``stage_option`` flag)
  under which later commands find that stage again;
- ``check_request``: refuses, before Ray starts or any stage runs, a ``train`` or ``tune`` request the task
  cannot serve (a pretrained voice encoder has nothing to train); ``train_once``: ``v2f-bench train``'s one
  configuration (a task that ``train`` does not run says so and what to run instead).

Tasks are found by role in ``tasks.registry.TASKS``, never by a target's name. The trial data always holds
``task`` (the class itself, so that a task registered at run time reaches the workers).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from v2f_bench.errors import UserError
from v2f_bench.targets import Target


@dataclass
class Context:
    """What a task's stages and trial data are built from: the prepared dataset, the run directory, and the
    choices for the earlier stages (the voice encoder and its config, the judge) and the evaluation."""

    prepared: Any
    """A ``data.prepared.PreparedDataset``."""
    run_dir: Path
    voice_config: dict = field(default_factory=dict)
    judge: Any = None
    """A ``judge.JudgeConfig`` (default: ``JudgeConfig()``)."""
    storage: str | None = None
    """Where stage trials keep their Ray results (a shared storage on a cluster); default the stage folder."""
    eval_unit: str = "window"
    voice_encoder: str | None = None
    audio_root: Path | None = None
    gallery: dict | None = None

    def judge_config(self):
        from v2f_bench.judge import JudgeConfig

        return self.judge if self.judge is not None else JudgeConfig()


@dataclass
class TrialSetup:
    """A task's trials for one target: their shared data, and what a search records and fixes."""

    data: dict
    extra: dict = field(default_factory=dict)
    """Recorded beside the search's results (e.g. which voice encoder and judge the generators used)."""
    artifacts: dict = field(default_factory=dict)
    """Written into the experiment's ``stages/`` folder for the report."""
    fixed: dict = field(default_factory=dict)
    """Hyperparameters every trial gets beside the space's (e.g. the voice encoder's variant)."""


@dataclass
class Epoch:
    """One epoch of a trial: its metrics row, the checkpoint state to resume from, and files saved beside it."""

    row: dict
    state: dict
    files: dict[str, dict] = field(default_factory=dict)
    """Written as JSON into the checkpoint (e.g. ``test_metrics.json``)."""
    arrays: dict[str, np.ndarray] = field(default_factory=dict)
    """Written as ``.npy`` (no pickle) into the checkpoint (e.g. the sample faces)."""


class Task:
    """Base class of a task; see the module docstring for the contract."""

    role: ClassVar[str] = ""
    summary: ClassVar[str] = ""
    name: ClassVar[str] = ""
    """The task's registry name: its role (set for every subclass)."""
    stage_option: ClassVar[str | None] = None
    """The flag of the generator commands that takes this task's stage settings (``--voice-config``); None: no stage."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls.name = cls.role

    @classmethod
    def names(cls, families: Mapping[str, type] | None = None) -> list[str]:
        """The targets this task serves (``families``: the family registry to read, default ``FAMILIES``)."""
        return [cls.role]

    @classmethod
    def target(cls, name: str, voice_encoder: str | None = None, families: Mapping[str, type] | None = None) -> Target:
        raise NotImplementedError

    @classmethod
    def setup(cls, name: str, context: Context) -> TrialSetup:
        raise NotImplementedError

    @classmethod
    def selects(cls, name: str) -> dict:
        """Config entries that tell a trial which of this task's targets it trains (a generator trial's
        ``family``); not hyperparameters, so never checked or searched."""
        return {}

    @classmethod
    def epochs(cls, config: dict, data: dict, meter, state: dict | None = None) -> Iterator[Epoch]:
        raise NotImplementedError

    @classmethod
    def adopt(cls, context: Context, config: dict, result) -> dict:
        """Make a finished trial (a Ray ``Result``) with ``config`` this task's stage; returns the stage record."""
        raise UserError(f"a {cls.role} trial is not a stage: nothing adopts it")

    @classmethod
    def stage_settings(cls, record: dict) -> dict:
        """The settings, as a ``stage_option`` file holds them, under which the stage ``record`` is found again."""
        raise UserError(f"a {cls.role} trial is not a stage: it has no stage settings")

    @classmethod
    def check_request(cls, verb: str, name: str, context: Context) -> None:
        """Refuse with a one-line ``UserError`` a ``verb`` (``train`` / ``tune``) of target ``name`` that this task
        cannot serve with ``context``'s choices; called before Ray starts or any stage runs. The default accepts all."""

    @classmethod
    def train_once(cls, name: str, context: Context, config: dict) -> dict:
        """``v2f-bench train NAME``: train ``config`` once (through the task's Ray trial) and return what
        ``train_once.format_trial`` prints: ``target``, ``config``, ``epoch``, ``epochs_trained``, ``val``, ``test``."""
        raise UserError(f"`train` does not train the {cls.role}; search it with `tune {name}`")
