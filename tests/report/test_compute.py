"""Compute budgeted and spent per search, from constructed records and trials (old records shown as missing)."""

from __future__ import annotations

import math

import pandas as pd

from v2f_bench.report.compute import compute_table, render_compute


def records() -> dict:
    new = {"target": "cgan", "seed": 1, "budget": {"max_epochs": 3, "compute": {"amount": 2e15, "unit": "flops", "text": "2PFLOP"}},
           "spent": {"flops": 1.9e15, "cpu_s": 400.0, "gpu_s": 100.0, "trials": 7, "stopped_by_budget": True}}
    old = {"target": "vae", "seed": 0, "budget": {"max_epochs": 3}}
    judge = {"target": "judge", "seed": 0, "budget": {}}
    return {"r/cgan-s1": {"search": new}, "r/vae-s0": {"search": old}, "r/judge": {"search": judge}}


def trials() -> pd.DataFrame:
    return pd.DataFrame([
        {"experiment": "cgan-s1", "experiment_path": "r/cgan-s1", "target": "cgan", "config/precision": "bf16", "config/g_channels": 64},
        {"experiment": "cgan-s1", "experiment_path": "r/cgan-s1", "target": "cgan", "config/precision": "bf16", "config/g_channels": 32},
        {"experiment": "vae-s0", "experiment_path": "r/vae-s0", "target": "vae", "config/precision": None, "config/g_channels": None},
        {"experiment": "judge", "experiment_path": "r/judge", "target": "judge", "config/precision": None, "config/g_channels": None},
    ])


def test_budget_spent_and_widths_per_search():
    table = compute_table(trials(), records())
    assert list(table["family"]) == ["vae", "cgan"], "generator searches only, in the paper's order"
    cgan = table.iloc[1]
    assert (cgan["budget"], cgan["budget_amount"], cgan["budget_unit"]) == ("2PFLOP", 2e15, "flops")
    assert (cgan["spent_flops"], cgan["spent_gpu_s"], cgan["spent_trials"], cgan["spent_stopped_by_budget"]) == (1.9e15, 100.0, 7, True)
    assert cgan["precision"] == "bf16" and cgan["g_channels"] == "32/64"


def test_an_old_record_without_budget_or_spent_shows_dashes():
    table = compute_table(trials(), records())
    vae = table.iloc[0]
    assert pd.isna(vae["budget"]) and math.isnan(vae["spent_flops"]) and pd.isna(vae["spent_stopped_by_budget"])
    text = render_compute(table)
    vae_line = next(line for line in text.splitlines() if line.startswith("| vae"))
    assert vae_line.count("—") >= 8 and "2e+15" in text and "yes" in text
    assert "decoder channels" not in text, "width columns no search used are left out"


def test_what_a_budget_counts_what_evaluation_spent_and_what_one_face_costs():
    records_ = records()
    records_["r/cgan-s1"]["search"]["budget"]["compute"]["counts"] = "train+eval"
    records_["r/cgan-s1"]["search"]["spent"]["eval_flops"] = 3e13
    frame = trials().assign(sample_flops=[1.5e7, 1.5e7, None, None])
    table = compute_table(frame, records_)
    cgan, vae = table.iloc[1], table.iloc[0]
    assert (cgan["budget_counts"], cgan["spent_eval_flops"], cgan["flops_per_face"]) == ("train+eval", 3e13, 1.5e7)
    assert pd.isna(vae["budget_counts"]) and math.isnan(vae["flops_per_face"]), "no budget, no count: not recorded"
    text = render_compute(table)
    assert "budget counts" in text and "flops per face" in text and "1.5e+07" in text


def test_the_compute_figure_draws_every_family_with_its_cost_per_face(tmp_path):
    from v2f_bench.report.figures import compute_costs

    table = pd.DataFrame({"family": ["vae", "diffusion", "mean-face"], "spent_flops": [1e12, 1e12, 0.0],
                          "spent_eval_flops": [1e11, 3e12, 1e9], "flops_per_face": [1e7, 6e8, 0.0]})
    path = compute_costs(table, tmp_path / "compute.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size > 5000
