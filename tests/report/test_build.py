"""The report's aggregations over searches take the metric and its direction from the search records."""

from __future__ import annotations

from types import SimpleNamespace

import pandas as pd
import pytest

from v2f_bench.errors import UserError
from v2f_bench.report.build import _budget_sections, _claims_section, _compute_section, _paired_section, search_objective, seeds_pair_up


def searches(mode: str, metric: str = "val_mae") -> pd.DataFrame:
    """Two families x three seeds x two trials; family "low" has the lower values throughout."""
    rows = []
    for family, base in (("low", 0.10), ("high", 0.30)):
        for seed in range(3):
            for trial in range(2):
                rows.append({"target": family, "seed": seed, "status": "completed", "best_val": base + 0.01 * seed + 0.002 * trial,
                             "time_s": 10.0, "metric": metric, "mode": mode, "trial_number": trial})
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("mode", "best_first", "word"),
    [pytest.param("min", "low", "lowest", id="mode-min-ranks-lowest-first"), pytest.param("max", "high", "best", id="mode-max-ranks-highest-first")],
)
def test_the_ranking_and_expected_best_follow_the_recorded_direction(tmp_path, mode, best_first, word):
    sections = _budget_sections(searches(mode), tmp_path)
    ranking = pd.read_csv(tmp_path / "ranking.csv")
    assert ranking["target"].iloc[0] == best_first
    curve = pd.read_csv(tmp_path / "budget.csv")
    one, two = (curve[(curve["target"] == "low") & (curve["n"] == n)]["estimate"].iloc[0] for n in (1, 2))
    assert (two < one) if mode == "min" else (two > one), "more trials can only improve the expected best in its own direction"
    assert f"Expected {word} val_mae" in sections[0].note


def test_searches_of_different_objectives_are_not_ranked_together():
    mixed = pd.concat([searches("min"), searches("max", "val_psnr")])
    with pytest.raises(UserError, match="different objectives"):
        search_objective(mixed)


def with_flops(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.assign(train_flops=[1e12 * (1 + (t == "high")) for t in frame["target"]])


def test_the_equal_budget_view_puts_flops_first_and_ranks_paired_seeds(tmp_path):
    section = _budget_sections(with_flops(searches("max")), tmp_path)[0]
    assert section.images[0].name == "expected_max_flops.png" and section.images[0].is_file()
    flops = pd.read_csv(tmp_path / "budget_flops.csv")
    high = flops[flops["target"] == "high"]
    assert list(high["time"]) == pytest.approx([2e12 * n for n in high["n"]]), "compute = n x mean trial train_flops"
    assert "paired Student-t" in section.note and section.note.startswith("Main axis: training FLOPs")


def test_without_flops_the_view_falls_back_and_says_so(tmp_path):
    section = _budget_sections(searches("max"), tmp_path)[0]
    assert [p.name for p in section.images] == ["expected_max_trials.png", "expected_max_time.png"]
    assert "Training FLOPs were not recorded" in section.note and not (tmp_path / "budget_flops.csv").exists()


def test_seeds_pair_up_only_when_every_family_ran_the_same_seeds():
    frame = searches("max")
    assert seeds_pair_up(frame)
    assert not seeds_pair_up(frame[~((frame["target"] == "low") & (frame["seed"] == 2))])
    assert not seeds_pair_up(frame[frame["seed"] == 0]), "one seed cannot pair"


def family_trials() -> pd.DataFrame:
    rows = []
    for family, acc in (("vae", 0.72), ("cgan", 0.68), ("rcgan", 0.84)):
        for seed in range(3):
            rows.append({"target": family, "seed": seed, "status": "completed", "best_val": 0.5, "mode": "max", "metric": "val_verification_accuracy",
                         "trial_id": f"{family}{seed}", "experiment": f"{family}-s{seed}", "experiment_path": f"r/{family}-s{seed}",
                         "test/verification_accuracy": acc + 0.01 * seed, "test/psnr": 20.0 + seed + (family == "vae") * 5,
                         "test/ssim": 0.7 + (family == "vae") * 0.1 + 0.001 * seed, "config/precision": "fp32"})
    return pd.DataFrame(rows)


def test_claims_paired_and_compute_sections_write_their_files(tmp_path):
    trials = family_trials()
    claims = _claims_section(trials, {"accuracy": 0.95, "n_pairs": 500}, tmp_path)
    assert "reproduced" in claims.html and (tmp_path / "claims.md").is_file()
    _paired_section(trials, tmp_path)
    paired = pd.read_csv(tmp_path / "paired.csv")
    row = paired[(paired["metric"] == "verification_accuracy") & (paired["a"] == "cgan") & (paired["b"] == "rcgan")].iloc[0]
    assert row["difference"] == pytest.approx(-16.0) and row["n_pairs"] == 3 and row["better"] == "rcgan"
    assert {"verification_accuracy", "psnr", "ssim"} <= set(paired["metric"])
    records = {f"r/{f}-s{s}": {"search": {"target": f, "seed": s, "budget": {}}} for f in ("vae", "cgan", "rcgan") for s in range(3)}
    section = _compute_section(SimpleNamespace(trials=trials, records=records), tmp_path)
    compute = pd.read_csv(tmp_path / "compute.csv")
    assert len(compute) == 9 and set(compute["precision"]) == {"fp32"} and "—" in section.html


def write_search(root, family: str, seed: int, acc: float) -> None:
    """A hand-made finished generator search: record (with compute budget and spent), one trial, one checkpoint."""
    import json

    experiment = root / f"{family}-s{seed}"
    trial = experiment / f"train_gen_{family}{seed}a_00000_0_lr=0.001"
    (trial / "checkpoint_000001").mkdir(parents=True)
    (experiment / "v2f_search.json").write_text(json.dumps({
        "target": family, "seed": seed, "metric": "val_verification_accuracy", "mode": "max", "prepared": "key",
        "budget": {"max_epochs": 2, "cpus_per_trial": 1, "gpus_per_trial": 0, "compute": {"amount": 1e13, "unit": "flops", "text": "10TFLOP"}},
        "spent": {"flops": 4e12, "cpu_s": 20.0, "gpu_s": 0.0, "trials": 1, "stopped_by_budget": False}}))
    (trial / "params.json").write_text(json.dumps({"lr": 0.001, "precision": "fp32"}))
    rows = [{"training_iteration": k, "epoch": k, "trial_id": f"{family}{seed}a_00000", "time_total_s": 10.0 * k, "train_flops": 2e12 * k,
             "cpu_s": 10.0 * k, "gpu_s": 0.0, "val_verification_accuracy": acc - 0.1 / k, "done": k == 2,
             "checkpoint_dir_name": "checkpoint_000001" if k == 2 else None} for k in (1, 2)]
    (trial / "result.json").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (trial / "checkpoint_000001" / "test_metrics.json").write_text(json.dumps({
        "test_verification_accuracy": acc, "test_psnr": 20 + 10 * acc, "test_ssim": acc, "test_mae": 1 - acc, "test_decisions": 420,
        "test_unit": "window"}))


def test_a_whole_report_on_constructed_searches(tmp_path):
    from v2f_bench.report.build import build_report

    root = tmp_path / "runs"
    for family, acc in (("vae", 0.72), ("cgan", 0.68), ("rcgan", 0.84)):
        for seed in range(2):
            write_search(root, family, seed, acc + 0.01 * seed)
    summary = build_report([str(root)], tmp_path / "out")
    out = tmp_path / "out"
    for name in ("claims.csv", "claims.md", "paired.csv", "compute.csv", "budget_flops.csv", "table1_seeds.csv", "learning_curves_flops.png"):
        assert (out / name).is_file(), name
    report = (out / "report.md").read_text()
    assert "## Claims of the paper, checked" in report and "| claim" in report and "10TFLOP" in report
    assert "n = 420 test windows per seed, 2 seeds" in report
    assert report.count("**Table I: face verification") == 1, "Table II's section must not repeat Table I"
    assert "Claims of the paper" in (out / "index.html").read_text() and summary["trials"] == 6
