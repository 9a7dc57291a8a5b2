"""The paper's tables from a trials frame: selection on validation, seed intervals, paper columns, counts, rendering.

Every test builds a small synthetic ``trials`` frame with ``Collection.trials``' schema (no Ray, no files
read): three paper families and one extra family, two or three seeds each, three or four trials per
search. In every search a failed trial carries the highest ``best_val`` and tempting test values, and a
worse-on-validation trial carries decoy test values: only the validation-best trial that did not fail may
reach the tables.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from v2f_bench.errors import UserError
from v2f_bench.metrics import METRICS
from v2f_bench.report import tables
from v2f_bench.report.tables import (
    PAPER,
    PAPER_JUDGE,
    best_per_search,
    counts_line,
    counts_table,
    render,
    table_distribution,
    table_identity,
    table_one,
    table_two,
    write_tables,
)

ACCURACY = {"vae": [0.70, 0.74, 0.72], "cgan": [0.66, 0.70], "rcgan": [0.84, 0.88, 0.83], "zeta": [0.50]}
"""Test verification accuracy (a fraction) of the validation-best trial of each seed's search."""
MAE = {"vae": [0.050, 0.046, 0.052], "cgan": [0.21, 0.22], "rcgan": [0.11, 0.12, 0.10], "zeta": [0.30]}
"""Test MAE of the same trials: vae lowest (best, lower is better)."""
DECOY = {"verification_accuracy": 0.01, "mae": 0.99}
"""Test values of trials that must never be selected (worse on validation, or failed)."""
TIME_S, CPUS, GPUS = 5.0, 2, 0


def planted_test_values(acc: float, mae: float) -> dict[str, float]:
    """A full set of ``test/...`` columns derived from two numbers (recall@5 never reported)."""
    return {
        "test/verification_accuracy": acc,
        "test/mae": mae,
        "test/mse": mae / 4,
        "test/snr": 20 - 50 * mae,
        "test/psnr": 30 - 50 * mae,
        "test/pamse": 10000 * mae,
        "test/ssim": 0.9 - mae,
        "test/matching_1to2": 0.5 + acc / 2,
        "test/top1": acc / 2,
        "test/recall@2": acc * 0.8,
        "test/mean_cosine": acc - 0.4,
        "test/frechet_distance": 100 * mae,
        "test/kernel_distance": mae / 10,
        "test/precision": acc,
        "test/recall": acc / 2,
        "test/density": 2 * acc,
        "test/coverage": acc / 4,
        "test/distribution_n": 40,
        "test/distribution_real_n": 30,
    }


def trial(target, seed, number, status, best_val, test=None, mode="max", metric="val_verification_accuracy", **extra) -> dict:
    row = {
        "experiment": f"{target}-s{seed}", "root": "root", "target": target, "seed": seed,
        "trial_id": f"{target}{seed}_{number}", "trial_number": number, "status": status,
        "error": "RuntimeError: planted failure" if status == "failed" else None,
        "failures": int(status == "failed"), "diverged": False, "epochs": 3, "metric": metric, "mode": mode,
        "best_val": best_val, "best_epoch": 2, "final_val": best_val, "time_s": TIME_S, "node_id": "n0",
        "cpus": CPUS, "gpus": GPUS, "prepared": "key", "test_epoch": 2, "checkpoint": None,
        "experiment_path": f"root/{target}-s{seed}", "trial_path": f"root/{target}-s{seed}/t{number}",
        "config/lr": 1e-3 * (number + 1),
    }
    row.update(test or {})
    row.update(extra)
    return row


def search_rows(target: str, seed: int, acc: float, mae: float, extra_stopped: bool = False) -> list[dict]:
    """One search: a worse completed trial, the best (stopped early), a failed one with a higher planted value."""
    decoy = planted_test_values(DECOY["verification_accuracy"], DECOY["mae"])
    rows = [
        trial(target, seed, 0, "completed", acc - 0.05, decoy),
        trial(target, seed, 1, "stopped", acc, planted_test_values(acc, mae)),
        trial(target, seed, 2, "failed", 0.999, decoy),
    ]
    if extra_stopped:
        rows.append(trial(target, seed, 3, "stopped", acc - 0.10, decoy))
    return rows


def make_trials(families=("vae", "cgan", "rcgan", "zeta")) -> pd.DataFrame:
    rows = []
    for fam in families:
        for seed, (acc, mae) in enumerate(zip(ACCURACY[fam], MAE[fam])):
            rows += search_rows(fam, seed, acc, mae, extra_stopped=(fam == "vae" and seed == 0))
    # targets that are not generator families: never rows of the tables
    rows.append(trial("judge", 0, 0, "completed", 0.9, {"test/accuracy": 0.91, "test/tau": 0.74, "test/f1": 0.8}))
    rows.append(trial("voice", 0, 0, "completed", 0.8, {"test/accuracy": 0.77}, metric="val_clip_accuracy"))
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def trials() -> pd.DataFrame:
    return make_trials()


def interval(values, scale=1.0):
    """Mean and 95 % t half-width computed directly with numpy and scipy."""
    x = np.asarray(values, dtype=float) * scale
    if x.size == 1:
        return x.mean(), math.nan
    return x.mean(), stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size)


# --------------------------------------------------------------------------- selection on validation


@pytest.mark.parametrize(
    ("family", "seed"),
    [pytest.param(f, s, id=f"{f}-seed{s}") for f in ACCURACY for s in range(len(ACCURACY[f]))],
)
def test_each_search_reports_its_validation_best_trial_on_test(trials, family, seed):
    best = best_per_search(trials)
    row = best[(best["target"] == family) & (best["seed"] == seed)]
    assert len(row) == 1
    row = row.iloc[0]
    assert row["trial_id"] == f"{family}{seed}_1", "the failed trial (best_val 0.999) or a worse one was chosen"
    assert row["status"] != "failed"
    assert row["test/verification_accuracy"] == ACCURACY[family][seed]
    assert row["test/mae"] == MAE[family][seed]
    assert row["search_trials"] == (4 if (family, seed) == ("vae", 0) else 3)
    assert row["search_failed"] == 1


def test_best_per_search_has_one_row_per_search_in_family_order(trials):
    best = best_per_search(trials)
    paper = [(f, s) for f in ("vae", "cgan", "rcgan") for s in range(len(ACCURACY[f]))]
    assert list(zip(best["target"], best["seed"])) == paper + [("judge", 0), ("voice", 0), ("zeta", 0)]


@pytest.mark.parametrize(
    ("mode", "metric", "expected"),
    [
        pytest.param("min", "val_mae", "t0", id="mode-min-picks-the-lowest"),
        pytest.param("max", "val_mae", "t1", id="mode-max-picks-the-highest"),
        pytest.param(None, "val_mae", "t0", id="no-mode-direction-from-METRICS-mae-lower-is-better"),
        pytest.param(None, "val_ssim", "t1", id="no-mode-direction-from-METRICS-ssim-higher-is-better"),
    ],
)
def test_selection_direction_follows_the_search_mode(mode, metric, expected):
    rows = [
        trial("vae", 0, 0, "completed", 0.2, planted_test_values(0.6, 0.2), mode=mode, metric=metric, trial_id="t0"),
        trial("vae", 0, 1, "completed", 0.4, planted_test_values(0.7, 0.4), mode=mode, metric=metric, trial_id="t1"),
        trial("vae", 0, 2, "failed", 0.1 if metric == "val_mae" and mode != "max" else 0.9,
              planted_test_values(0.8, 0.1), mode=mode, metric=metric, trial_id="t2"),
    ]
    assert best_per_search(pd.DataFrame(rows))["trial_id"].tolist() == [expected]


def test_a_search_whose_trials_all_failed_has_no_row_but_is_counted(trials):
    broken = pd.concat([trials, pd.DataFrame([trial("cgan", 7, k, "failed", 0.9) for k in range(2)])], ignore_index=True)
    best = best_per_search(broken)
    assert not ((best["target"] == "cgan") & (best["seed"] == 7)).any()
    assert counts_table(broken).loc["cgan", "failed"] == 2 + 2
    assert table_one(broken).loc["cgan", "seeds"] == 2


# --------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("build", "metric", "source", "scale"),
    [
        pytest.param(table_one, "verification_accuracy", ACCURACY, 100.0, id="table-I-accuracy-in-percent"),
        pytest.param(table_two, "mae", MAE, 1.0, id="table-II-mae-on-0-1"),
        pytest.param(table_two, "pamse", {f: [10000 * v for v in MAE[f]] for f in MAE}, 1.0, id="table-II-pamse-on-0-255"),
        pytest.param(table_identity, "top1", {f: [a / 2 for a in ACCURACY[f]] for f in ACCURACY}, 100.0, id="identity-top1-in-percent"),
        pytest.param(table_distribution, "frechet_distance", {f: [100 * v for v in MAE[f]] for f in MAE}, 1.0, id="distribution-fd-as-is"),
        pytest.param(table_distribution, "coverage", {f: [a / 4 for a in ACCURACY[f]] for f in ACCURACY}, 100.0, id="distribution-coverage-in-percent"),
    ],
)
@pytest.mark.parametrize("family", ["vae", "cgan", "rcgan"])
def test_mean_and_interval_over_seeds_match_numpy_and_scipy(trials, build, metric, source, scale, family):
    table = build(trials)
    mean, half = interval(source[family], scale)
    assert table.loc[family, metric] == pytest.approx(mean)
    assert table.loc[family, f"{metric}:half"] == pytest.approx(half)
    assert table.loc[family, f"{metric}:low"] == pytest.approx(mean - half)
    assert table.loc[family, f"{metric}:high"] == pytest.approx(mean + half)
    assert table.loc[family, f"{metric}:n"] == len(source[family])
    assert table.loc[family, "seeds"] == len(source[family])


def test_the_distribution_table_states_its_embedding_its_sample_sizes_and_the_bias_of_fd(trials):
    table = table_distribution(trials)
    assert table.attrs["metrics"] == ["frechet_distance", "kernel_distance", "precision", "recall", "density", "coverage"]
    note = " ".join(table.attrs["notes"])
    assert "40 generated faces against 30 real photos" in note and "judge" in note and "biased upwards at small n" in note
    assert table.loc["vae", "frechet_distance:best"] and not table.loc["rcgan", "frechet_distance:best"], "lower FD is better"


def test_one_seed_has_no_interval_and_says_n1(trials):
    table = table_one(trials)
    assert table.loc["zeta", "verification_accuracy"] == pytest.approx(50.0)
    assert math.isnan(table.loc["zeta", "verification_accuracy:half"])
    assert table.loc["zeta", "seeds"] == 1
    line = next(line for line in render(table, "markdown").splitlines() if line.startswith("| zeta"))
    assert "50.0 (n=1)" in line  # decimals shared by the column (from the other rows' half-widths)


def test_rows_are_the_paper_families_then_others_and_never_voice_or_judge(trials):
    for build in (table_one, table_two, table_identity):
        assert list(build(trials).index) == ["vae", "cgan", "rcgan", "zeta"]


def test_a_paper_family_not_run_keeps_its_paper_row_in_tables_one_and_two():
    trials = make_trials(("vae", "rcgan"))
    one, identity = table_one(trials), table_identity(trials)
    assert list(one.index) == ["vae", "cgan", "rcgan"]
    assert one.loc["cgan", "seeds"] == 0 and math.isnan(one.loc["cgan", "verification_accuracy"])
    assert one.loc["cgan", "verification_accuracy:paper"] == 68.09
    assert any("cgan: not run" in note for note in one.attrs["notes"])
    assert list(identity.index) == ["vae", "rcgan"]


# --------------------------------------------------------------------------- the paper's numbers


@pytest.mark.parametrize(
    ("family", "metric", "published"),
    [
        pytest.param("vae", "verification_accuracy", 72.61, id="I-vae-72.61"),
        pytest.param("cgan", "verification_accuracy", 68.09, id="I-cgan-68.09"),
        pytest.param("rcgan", "verification_accuracy", 84.52, id="I-rcgan-84.52"),
        pytest.param("vae", "psnr", 28.276, id="II-vae-psnr"),
        pytest.param("cgan", "pamse", 3964.294, id="II-cgan-pamse"),
        pytest.param("rcgan", "ssim", 0.703, id="II-rcgan-ssim"),
        pytest.param("vae", "mae", 0.049, id="II-vae-mae"),
        pytest.param("cgan", "snr", 1.125, id="II-cgan-snr"),
        pytest.param("rcgan", "mse", 0.025, id="II-rcgan-mse"),
    ],
)
def test_paper_values_sit_beside_ours_as_published(trials, family, metric, published):
    table = table_one(trials) if METRICS[metric].table == "I" else table_two(trials)
    assert PAPER[family][metric] == published
    assert table.loc[family, f"{metric}:paper"] == published
    columns = list(table.columns)
    assert columns.index(f"{metric}:paper") > columns.index(metric)
    assert str(published) in render(table, "markdown")
    assert math.isnan(table.loc["zeta", f"{metric}:paper"])


def test_every_table_ii_metric_has_a_paper_value_for_every_paper_family():
    table_ii = [m for m, spec in METRICS.items() if spec.table == "II"]
    assert sorted(table_ii) == sorted(["mae", "mse", "snr", "psnr", "pamse", "ssim"])
    for family in ("vae", "cgan", "rcgan"):
        assert set(PAPER[family]) == set(table_ii) | {"verification_accuracy"}


def test_identity_table_has_no_paper_column_and_leaves_out_what_nobody_reported(trials):
    table = table_identity(trials)
    assert not any(c.endswith(":paper") for c in table.columns)
    assert table.attrs["metrics"] == ["matching_1to2", "top1", "recall@2", "mean_cosine"]
    assert "recall@5" not in table.columns
    assert any("recall@5" in note for note in table.attrs["notes"])


def _with_galleries(trials: pd.DataFrame) -> pd.DataFrame:
    """The planted trials with drawn-gallery Recall@K: 20 test identities, G = 20 (100 requested), 10 draws."""
    frame = trials.copy()
    frame["test/gallery_recall@1"] = frame["test/top1"]
    frame["test/gallery_recall@10"] = frame["test/recall@2"]
    frame["test/gallery_size"], frame["test/gallery_draws"] = 20, 10
    frame["test/gallery_identities"], frame["test/gallery_requested"] = 20, 100
    return frame


def test_every_recall_at_k_has_its_chance_level_and_gallery_size_beside_it(trials):
    table = table_identity(_with_galleries(trials))
    assert table.attrs["metrics"] == ["matching_1to2", "top1", "recall@2", "gallery_recall@1", "gallery_recall@10", "mean_cosine"]
    assert table.loc["vae", "gallery_recall@1:chance"] == pytest.approx(5.0) and table.loc["vae", "gallery_recall@1:gallery"] == 20
    assert table.loc["vae", "gallery_recall@10:chance"] == pytest.approx(50.0)
    assert table.loc["vae", "top1:chance"] == pytest.approx(5.0) and table.loc["vae", "recall@2:chance"] == pytest.approx(10.0)
    assert "matching_1to2:chance" not in table.columns
    text = render(table, "markdown")
    header = next(line for line in text.splitlines() if line.startswith("| family"))
    for name in ("top-1", "recall@2", "Recall@1, G drawn", "Recall@10, G drawn"):
        assert f"{name} (%) ↑" in header and f"{name} (%), chance" in header, name
    assert header.index("Recall@1, G drawn (%) ↑") < header.index("Recall@1, G drawn (%), chance") < header.index("Recall@10, G drawn (%) ↑")
    assert "5.0 (G=20)" in text and "50.0 (G=20)" in text
    notes = " ".join(table.attrs["notes"])
    assert "10 galleries of G = 20 (requested 100, capped at the C = 20 test identities)" in notes
    assert "chance K/G" in notes and "chance K/C" in notes
    for fmt in ("latex", "html", "csv"):
        assert "chance" in render(table, fmt)


def test_a_recall_without_a_recorded_gallery_says_so_instead_of_a_chance(trials):
    table = table_identity(trials)
    assert np.isnan(table.loc["vae", "top1:chance"])
    assert "top-1 (%), chance" in render(table, "markdown") and "C = not recorded" in " ".join(table.attrs["notes"])


def test_table_one_notes_the_judge_ours_and_the_papers(trials):
    notes = " ".join(table_one(trials).attrs["notes"])
    assert f"{PAPER_JUDGE['verification_accuracy']} % at tau = {PAPER_JUDGE['tau']}" in notes
    assert "Our judge on real test pairs: 91.0 % at tau = 0.74" in notes


# --------------------------------------------------------------------------- direction from METRICS


@pytest.mark.parametrize(
    ("metric", "best_family"),
    [
        pytest.param("mae", "vae", id="mae-lower-is-better"),
        pytest.param("pamse", "vae", id="pamse-lower-is-better"),
        pytest.param("psnr", "vae", id="psnr-higher-is-better"),
        pytest.param("ssim", "vae", id="ssim-higher-is-better"),
    ],
)
def test_best_mean_is_marked_in_the_metrics_direction(trials, metric, best_family):
    table = table_two(trials)
    assert table.index[table[f"{metric}:best"]].tolist() == [best_family]


def test_best_in_table_one_is_the_highest_accuracy(trials):
    table = table_one(trials)
    assert table.index[table["verification_accuracy:best"]].tolist() == ["rcgan"]
    row = next(line for line in render(table, "markdown").splitlines() if line.startswith("| rcgan"))
    assert "**" in row


def test_direction_is_read_from_METRICS_not_hard_coded(trials, monkeypatch):
    monkeypatch.setitem(METRICS, "mae", dataclasses.replace(METRICS["mae"], higher_is_better=True))
    table = table_two(trials)
    assert table.index[table["mae:best"]].tolist() == ["zeta"]
    assert "MAE ↑" in render(table, "markdown")


# --------------------------------------------------------------------------- counts and budget


def test_counts_per_family(trials):
    counts = counts_table(trials)
    assert list(counts.index) == ["vae", "cgan", "rcgan", "zeta"]
    expected = {  # family: (seeds, trials, completed, stopped, failed)
        "vae": (3, 10, 3, 4, 3),
        "cgan": (2, 6, 2, 2, 2),
        "rcgan": (3, 9, 3, 3, 3),
        "zeta": (1, 3, 1, 1, 1),
    }
    for family, (seeds, n, completed, stopped, failed) in expected.items():
        row = counts.loc[family]
        assert (row["seeds"], row["trials"], row["completed"], row["stopped"], row["failed"], row["unfinished"]) == (
            seeds, n, completed, stopped, failed, 0)
        assert row["time_s"] == pytest.approx(n * TIME_S)
        assert row["cpu_s"] == pytest.approx(n * TIME_S * CPUS)
        assert row["gpu_s"] == 0
        assert (row["cpus"], row["gpus"]) == (CPUS, GPUS)


def test_counts_line_reads_as_a_sentence_per_family(trials):
    lines = counts_line(trials).splitlines()
    assert lines[0] == "vae: 10 trials over 3 seeds (3 completed, 4 stopped early, 3 failed); 50 s of trial time, 2 CPU + 0 GPU per trial"
    assert [line.split(":")[0] for line in lines] == ["vae", "cgan", "rcgan", "zeta"]


@pytest.mark.parametrize("build", [table_one, table_two, table_identity], ids=["table1", "table2", "identity"])
@pytest.mark.parametrize("fmt", ["markdown", "latex", "html"])
def test_counts_are_shown_under_every_table(trials, build, fmt):
    text = render(build(trials), fmt)
    assert text.index("stopped early") > text.index("seeds")
    for family, n in (("vae", "10"), ("cgan", "6"), ("rcgan", "9")):
        assert family in text and n in text


# --------------------------------------------------------------------------- rendering


def rendered_headers(table) -> list[str]:
    labels = []
    for metric in table.attrs["metrics"]:
        labels.append(tables.label(metric))
        if f"{metric}:paper" in table.columns:
            labels.append(f"{tables.label(metric)}, paper")
    return labels


@pytest.mark.parametrize("build", [table_one, table_two, table_identity], ids=["table1", "table2", "identity"])
def test_markdown_has_every_column_as_github_pipes(trials, build):
    table = build(trials)
    text = render(table, "markdown")
    header = next(line for line in text.splitlines() if line.startswith("| family"))
    for label in rendered_headers(table) + ["seeds"]:
        assert label in header
    assert "|---" in text.replace(":--", "---") or "| ---" in text
    assert table.attrs["title"] in text


@pytest.mark.parametrize("build", [table_one, table_two, table_identity], ids=["table1", "table2", "identity"])
def test_latex_has_every_column_escaped(trials, build):
    table = build(trials)
    text = render(table, "latex")
    assert text.startswith("\\begin{table}") and "\\begin{tabular}" in text
    for label in rendered_headers(table):
        assert label.replace("%", r"\%").replace("_", r"\_") in text
    assert r"$\pm$" in text and "±" not in text
    assert " % " not in text.replace(r"\%", "")  # every percent sign is escaped


@pytest.mark.parametrize("build", [table_one, table_two, table_identity], ids=["table1", "table2", "identity"])
def test_csv_has_every_numeric_column_and_the_counts(trials, build):
    import io

    table = build(trials)
    frame = pd.read_csv(io.StringIO(render(table, "csv")))
    assert list(frame.columns[: len(table.columns) + 1]) == ["family"] + list(table.columns)
    for column in ("trials", "completed", "stopped", "failed", "time_s", "cpus", "gpus"):
        assert column in frame.columns
    assert frame["family"].tolist() == list(table.index)
    assert frame.set_index("family").loc["rcgan", list(table.columns)[1]] == pytest.approx(table.loc["rcgan", table.columns[1]], rel=1e-5)


def test_html_is_a_fragment_with_every_column(trials):
    table = table_two(trials)
    text = render(table, "html")
    assert text.startswith('<div class="v2f-table" id="table2">') and "<table>" in text
    for label in rendered_headers(table):
        assert label in text
    assert "<b>" in text


def test_values_are_mean_plus_minus_half_width_and_paper_values_as_published(trials):
    table = table_one(trials)
    mean, half = interval(ACCURACY["rcgan"], 100.0)
    row = next(line for line in render(table, "markdown").splitlines() if line.startswith("| rcgan"))
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[1] == f"**{mean:.1f} ± {half:.1f}**"
    assert cells[2] == "84.52"
    assert cells[3] == "3"


def test_unknown_format_is_refused(trials):
    with pytest.raises(ValueError, match="unknown format 'rtf'"):
        render(table_one(trials), "rtf")


# --------------------------------------------------------------------------- files


def test_write_tables_writes_every_format_and_the_trial_table(trials, tmp_path):
    mixed = trials.assign(**{"config/optimizer": ["adam"] * (len(trials) - 1) + [3]})  # mixed types: parquet as text
    written = write_tables(mixed, tmp_path / "out")
    assert set(written) == {"table1", "table2", "table_identity", "table_distribution", "trials"}
    for name in ("table1", "table2", "table_identity", "table_distribution"):
        assert [p.name for p in written[name]] == [f"{name}.md", f"{name}.tex", f"{name}.csv", f"{name}.html", f"{name}_seeds.csv"]
        assert all(p.stat().st_size > 0 for p in written[name])
    assert pd.read_csv(tmp_path / "out" / "trials.csv").shape[0] == len(trials)
    pytest.importorskip("pyarrow")
    assert written["trials"][-1].name == "trials.parquet"
    assert pd.read_parquet(written["trials"][-1]).shape[0] == len(trials)


# --------------------------------------------------------------------------- clear errors


def test_every_trial_failed_is_one_clear_line(tmp_path):
    rows = [trial(f, s, k, "failed", 0.9) for f in ("vae", "rcgan") for s in range(2) for k in range(2)]
    trials = pd.DataFrame(rows)
    for build in (table_one, table_two, table_identity, lambda t: write_tables(t, tmp_path / "out")):
        with pytest.raises(UserError, match=r"every trial failed \(vae 4 of 4 failed; rcgan 4 of 4 failed\)") as err:
            build(trials)
        assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists(), "nothing is written when there is nothing to report"


def test_finished_trials_without_test_values_are_a_clear_error():
    trials = pd.DataFrame([trial("vae", 0, 0, "completed", 0.5), trial("vae", 0, 1, "failed", 0.9)])
    with pytest.raises(UserError, match="no family has a finished trial with test values"):
        table_one(trials)


def test_only_voice_and_judge_searches_is_a_clear_error():
    trials = make_trials(())
    with pytest.raises(UserError, match="no generator family in the trials"):
        table_two(trials)


def test_a_family_whose_trials_all_failed_is_named_with_its_first_reason(trials):
    broken = pd.concat([trials[trials["target"] != "cgan"], pd.DataFrame([trial("cgan", 0, k, "failed", 0.9) for k in range(3)])],
                       ignore_index=True)
    table = table_one(broken)
    assert table.loc["cgan", "seeds"] == 0 and table.loc["cgan", "verification_accuracy:paper"] == 68.09
    assert "cgan: no finished trial (3 of 3 failed; first reason: RuntimeError: planted failure)." in table.attrs["notes"]
    assert counts_table(broken).loc["cgan", "failed"] == 3


def test_html_escapes_text_it_did_not_write(trials):
    odd = trials.assign(target=trials["target"].replace("zeta", "<z&eta>"))
    text = render(table_one(odd), "html")
    assert "&lt;z&amp;eta&gt;" in text and "<z&eta>" not in text


# --------------------------------------------------------------------------- n, unit and seeds


DECISIONS = {"vae": [612, 612, 600], "cgan": [612, 612], "rcgan": [612, 612, 612], "zeta": [612]}
"""Test decisions (generated test windows) behind each selected checkpoint's metrics."""


def with_decisions(trials: pd.DataFrame, unit: str = "window") -> pd.DataFrame:
    out = trials.assign(**{"test/decisions": np.nan, "test/unit": None})
    for fam, counts in DECISIONS.items():
        for seed, count in enumerate(counts):
            chosen = out["trial_id"] == f"{fam}{seed}_1"
            out.loc[chosen, "test/decisions"] = count
            out.loc[chosen, "test/unit"] = unit
    return out


def test_each_table_states_n_the_unit_and_the_seeds(trials):
    table = table_one(with_decisions(trials))
    assert table.loc["vae", "verification_accuracy:decisions"] == 600, "the fewest decisions over the seeds"
    assert table.loc["rcgan", "verification_accuracy:decisions"] == 612
    note = next(n for n in table.attrs["notes"] if n.startswith("n = "))
    assert note.startswith("n = 600-612 test windows per seed, vae 3 seeds, cgan 2 seeds, rcgan 3 seeds, zeta 1 seed;")
    assert "95 % Student-t over training seeds" in note
    assert "n = 600-612 test windows per seed" in render(table, "markdown")


def test_an_old_experiment_without_decisions_says_so(trials):
    table = table_two(trials)
    assert table["psnr:decisions"].isna().all()
    assert any(n.startswith("n = not recorded") for n in table.attrs["notes"])


def test_the_csv_carries_decisions_and_the_per_seed_values_are_written(trials, tmp_path):
    written = write_tables(with_decisions(trials), tmp_path)
    csv = pd.read_csv(written["table1"][2]).set_index("family")
    assert csv.loc["cgan", "verification_accuracy:decisions"] == 612
    seeds = pd.read_csv(tmp_path / "table1_seeds.csv")
    vae = seeds[(seeds["family"] == "vae") & (seeds["metric"] == "verification_accuracy")].sort_values("seed")
    assert list(vae["value"]) == pytest.approx([100 * a for a in ACCURACY["vae"]]), "per-seed values on the table's scale"
    assert list(vae["decisions"]) == DECISIONS["vae"] and set(vae["unit"]) == {"window"}
    assert list(vae["trial_id"]) == [f"vae{s}_1" for s in range(3)], "the validation-best trials only"
