"""Tasks are found by role through the registry: a throwaway task added there alone is searched like the
built-in ones, and every task's trials report compute, so a compute budget stops voice and judge searches too."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import stand_in_voice_stage
from v2f_bench.artifacts import STATE_FILE
from v2f_bench.compute import parse_compute_budget
from v2f_bench.data.prepared import load_prepared
from v2f_bench.errors import UserError
from v2f_bench.hyperparameters import Hyper, check_config
from v2f_bench.judge import JudgeConfig
from v2f_bench.search import Budget, best_result, default_space_file, read_record, run_search, search_setup
from v2f_bench.targets import Target
from v2f_bench.tasks.base import Epoch, Task, TrialSetup
from v2f_bench.tasks.registry import TASKS, get_target, register_task, task_of
from v2f_bench.trials import last_checkpoint

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("ray_shared")]

TOY_HYPERS = {"lr": Hyper(0.1, "SGD learning rate", minimum=0.0, exclusive=True), "max_epochs": Hyper(3, "epochs", minimum=1),
              "seed": Hyper(0, "seed", minimum=0)}


class LineFit(Task):
    """A throwaway task: fit y = 3x - 1 with one linear unit by SGD, selected on validation loss."""

    role = "line-fit"

    @classmethod
    def target(cls, name="line-fit", voice_encoder=None, families=None) -> Target:
        return Target(cls.role, cls.role, TOY_HYPERS, "val_loss", "min")

    @classmethod
    def setup(cls, name, context) -> TrialSetup:
        x = np.linspace(-1, 1, 64, dtype=np.float32)
        return TrialSetup({"task": cls, "x": x, "y": 3 * x - 1})

    @classmethod
    def epochs(cls, config, data, meter, state=None) -> Iterator[Epoch]:
        settings = check_config(TOY_HYPERS, config, cls.role)
        torch.manual_seed(settings["seed"])
        model = torch.nn.Linear(1, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=settings["lr"])
        x, y = torch.as_tensor(data["x"])[:, None], torch.as_tensor(data["y"])[:, None]

        def step():
            loss = torch.nn.functional.mse_loss(model(x), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            return float(loss)

        for epoch in range(1, settings["max_epochs"] + 1):
            train_loss = meter.step(len(x), step)
            with torch.no_grad():
                val_loss = meter.evaluate(lambda: float(torch.nn.functional.mse_loss(model(x), y)))
            yield Epoch({"epoch": epoch, "train_loss": train_loss, "val_loss": val_loss}, {"model": model.state_dict()})


def test_a_task_added_through_the_registry_alone_is_found_by_its_target_and_searched(prepared_dir, tmp_path, ray_shared):
    if "line-fit" not in TASKS:
        register_task(LineFit)
    assert task_of("line-fit") is LineFit and get_target("line-fit").metric == "val_loss"
    space = tmp_path / "line-fit.yaml"
    space.write_text("target: line-fit\nparameters:\n  lr: {type: loguniform, low: 1.0e-2, high: 0.5}\n")
    setup = search_setup("line-fit", space, load_prepared(prepared_dir), tmp_path / "run", {}, None)
    assert setup.space.mode == "min", "the direction comes from the task's target, not the space file"
    results = run_search(setup, Budget(trials=3, max_epochs=3, concurrency=1, scheduler="fifo"), str(tmp_path / "searches"), "line", 0)
    best = best_result(results, setup.space)
    assert best["trials"] == 3 and best["failed"] == 0
    last = [r.metrics for r in results]
    assert all(m["epoch"] == 3 and m["train_flops"] > 0 and m["eval_flops"] > 0 and m["train_steps"] == 3 for m in last)
    assert read_record(tmp_path / "searches" / "line")["role"] == "line-fit"


def test_a_task_may_not_serve_a_target_another_task_serves():
    class Shadow(Task):
        role = "shadow"

        @classmethod
        def names(cls, families=None):
            return ["vae"]

    with pytest.raises(ValueError, match="serves 'vae', a target of another task"):
        register_task(Shadow)
    with pytest.raises(UserError, match="unknown target 'nothing'; known targets: voice, judge, "):
        task_of("nothing")


def _one_epoch_budgeted(target: str, prepared, tmp_path):
    """A search on ``target`` with room for 50 trials of 5 epochs and a budget of 1 training FLOP: the
    first report spends it, so the search ends there."""
    setup = search_setup(target, default_space_file(target), prepared, tmp_path / "run", {}, JudgeConfig(batch_size=8))
    budget = Budget(trials=50, max_epochs=5, concurrency=1, scheduler="fifo", compute=parse_compute_budget("1FLOP").as_dict())
    results = run_search(setup, budget, str(tmp_path / "searches"), target, seed=0)
    return setup, results, read_record(tmp_path / "searches" / target)


@pytest.mark.parametrize("target", ["voice", "judge"])
def test_a_compute_budget_stops_voice_and_judge_searches(target, prepared_dir, tmp_path, ray_shared):
    _, results, record = _one_epoch_budgeted(target, load_prepared(prepared_dir), tmp_path)
    assert record["spent"]["stopped_by_budget"] and record["spent"]["trials"] == len(results) == 1
    (only,) = results
    assert only.metrics["epoch"] == 1 and only.metrics["train_flops"] > 1 and only.metrics["eval_flops"] > 0
    assert record["spent"]["flops"] == only.metrics["train_flops"]
    with last_checkpoint(only).as_directory() as folder:
        assert (Path(folder) / STATE_FILE).is_file(), "the budget ended the search at this report; its checkpoint is still found"


def test_tune_judge_adopt_makes_the_best_trial_the_judge_stage_that_generator_commands_find(prepared_dir, tmp_path, capsys, ray_shared):
    """`tune judge --adopt` turns the best trial into the judge stage and writes its settings file; a generator
    command given that file (`--judge-config`) finds the adopted stage instead of training a judge again."""
    import json

    import yaml

    from v2f_bench.cli import _judge_config, build_parser, main
    from v2f_bench.tasks.generator import generator_data
    from v2f_bench.stage_records import STAGE_FILE
    from v2f_bench.tasks.judge import judge_stage

    prepared, run_dir, searches = load_prepared(prepared_dir), tmp_path / "run", tmp_path / "searches"
    stage = ["--prepared", str(prepared_dir), "--run-dir", str(run_dir)]
    assert main(["tune", "judge", *stage, "--storage", str(searches), "--trials", "2", "--max-epochs", "1", "--concurrency", "1",
                 "--scheduler", "fifo", "--adopt"]) == 0
    settings_file = run_dir / "judge" / "adopted_config.yaml"
    out = capsys.readouterr().out
    assert f"--judge-config {settings_file}" in out
    best = float(out.split("best val_verification_accuracy = ")[1].split()[0])
    record = json.loads((run_dir / "judge" / STAGE_FILE).read_text())
    rows = read_record(searches / "judge")
    assert record["judge"] == "trained" and record["config"]["epochs"] == 1 and "adopted_from" in record["training"][0]
    settings = yaml.safe_load(settings_file.read_text())
    assert settings["max_epochs"] == 1 and settings["lr"] == pytest.approx(record["config"]["lr"])
    assert rows["spent"]["trials"] == 2
    assert record["calibration"]["accuracy"] == pytest.approx(best, abs=1e-4), "the stage's tau is the best trial's, chosen again"

    args = build_parser().parse_args(["train", "vae", *stage, "--judge-config", str(settings_file)])
    assert judge_stage(prepared, run_dir, _judge_config(args)) == record, "the generator command's judge stage is the adopted one"
    voice = stand_in_voice_stage(prepared, run_dir, np.zeros((len(prepared.voice_features), 8), np.float32))
    data = generator_data(prepared, run_dir, voice, record)
    assert data["judge"]["name"] == "trained" and data["judge"]["tau"] == record["calibration"]["tau"]
