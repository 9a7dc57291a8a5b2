"""Pareto fronts: the dominance rule on constructed values, and a real multi-objective search end to end."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from v2f_bench.cli import main
from v2f_bench.report.pareto import dominated

pytestmark = pytest.mark.usefixtures("ray_shared")


@pytest.mark.parametrize(
    ("values", "higher", "expected"),
    [
        pytest.param([[1, 1], [2, 2], [3, 0]], [True, True], [True, False, False], id="max-max"),
        pytest.param([[1, 3], [2, 2], [3, 4]], [False, False], [False, False, True], id="min-min"),
        pytest.param([[1, 1], [2, 2], [3, 0]], [True, False], [True, True, False], id="max-min"),
        pytest.param([[1, 1], [1, 1]], [True, True], [False, False], id="equal-points-dominate-neither"),
        pytest.param([[1, 2, 3], [1, 2, 4]], [True, True, True], [True, False], id="three-objectives"),
    ],
)
def test_a_point_is_dominated_only_by_one_at_least_as_good_everywhere_and_better_somewhere(values, higher, expected):
    assert dominated(np.array(values), higher).tolist() == expected


@pytest.mark.slow
def test_a_multi_objective_search_gives_a_table_of_truly_non_dominated_trials(prepared_dir, staged_run_dir, tmp_path):
    import optuna
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    storage = tmp_path / "searches"
    code = main(["tune", "vae", "--prepared", str(prepared_dir), "--run-dir", str(staged_run_dir), "--trials", "5", "--max-epochs", "1",
                 "--scheduler", "fifo", "--storage", str(storage), "--judge-epochs", "1",
                 "--objectives", "val_verification_accuracy:max,val_psnr"])
    assert code == 0
    record = json.loads((storage / "vae" / "v2f_search.json").read_text())
    assert record["objectives"] == [["val_verification_accuracy", "max"], ["val_psnr", "max"]]
    study = optuna.load_study(study_name="vae", storage=JournalStorage(JournalFileBackend(str(storage / "vae" / "optuna_study.log"))))
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MAXIMIZE"]

    out = tmp_path / "report"
    assert main(["report", str(storage / "vae"), "--out", str(out)]) == 0
    assert (out / "pareto_fronts.png").is_file() and "Pareto fronts" in (out / "index.html").read_text()
    ids = {"trial_id": str}  # Ray's 8-hex-digit trial ids can be all digits (about 2 % of runs): read them as text
    front = pd.read_csv(out / "pareto.csv", dtype=ids)
    epochs = pd.read_csv(out / "epochs.csv", dtype=ids)
    scored = epochs.groupby("trial_id")[["val_verification_accuracy", "val_psnr"]].last()  # one epoch per trial
    for _, row in front.iterrows():
        mine = scored.loc[row["trial_id"]]
        for other, theirs in scored.iterrows():
            beats = (theirs >= mine).all() and (theirs > mine).any()
            assert not beats, f"trial {row['trial_id']} in the table is dominated by {other}"
    rest = scored.drop(index=front["trial_id"])
    for trial, mine in rest.iterrows():
        assert any((theirs >= mine).all() and (theirs > mine).any() for _, theirs in scored.iterrows()), f"trial {trial} is missing from the front"
    optuna_front = {round(t.params["lr"], 12) for t in study.best_trials}
    trials = pd.read_csv(out / "trials.csv", dtype=ids).set_index("trial_id")
    assert {round(trials.loc[t, "config/lr"], 12) for t in front["trial_id"]} == optuna_front, "the same front as Optuna's"
