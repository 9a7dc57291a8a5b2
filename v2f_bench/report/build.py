"""Experiment directories -> the report: tables, the equal-budget view, figures, one HTML page.

``build_report(paths, out)`` reads only what the searches wrote (Ray's result files, the search
records, checkpoints' test metrics and sample faces, the stage artifacts copied beside generator
searches) and writes into ``out``:

- ``trials.csv`` (and ``trials.parquet``): every trial, tidy; ``epochs.csv``: every reported epoch;
- ``table1``, ``table2``, ``table_identity``, ``table_distribution`` as Markdown, LaTeX, CSV and HTML, with the paper's
  published numbers beside ours, and the counts of trials, failures and budget under each;
- ``table1_seeds.csv`` (and for the other tables): the per-seed values and test decisions behind each row;
- ``claims.csv`` / ``claims.md``: the paper's claims with our value, interval and verdict (``claims.py``);
- ``ladder.csv`` / ``ladder.md`` / ``ladder.png`` and ``claims_by_rung.csv`` / ``.md``: Table I and the claims at each rung
  of the generator trials' FLOP budget, when they evaluated at rungs (``ladder.py``);
- ``paired.csv``: every pair of families on every Table I / II metric, the mean paired difference over seeds
  with its 95 % paired Student-t interval; ``compute.csv``: budget and compute spent per family and seed;
- ``budget.csv`` (``budget_flops.csv``) and ``ranking.csv``: expected best validation accuracy after n trials
  (Dodge et al. 2019) per family with bootstrap bands, against n, trial time and training FLOPs, and the
  families ranked with "within noise" flags (paired over seeds when the seeds pair up);
- ``encoders.csv`` / ``encoder_paired.csv`` when the generator searches used several voice encoders (a
  ``compare --voice-encoders`` study): each family's Table I metric per encoder, and per family every other
  encoder minus the first, paired by seed; the other tables then show the first encoder's sub-study;
- ``answer.md``: the first screen's sentences (``answer.py``): the family ahead at the study's budget, by how much;
- figures (PNG), ``samples.npz`` (the faces behind the grid), ``index.html`` (self-contained) and ``report.md``.

What cannot be drawn (no generator searches, no stage artifacts) is said on the page, not skipped
silently; problems met while reading the experiments are listed there too.
"""

from __future__ import annotations

import html
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from v2f_bench.artifacts import (ENCODERS_RECORD, SAMPLE_GENERATED, SAMPLE_LABELS, SAMPLE_TARGETS, STAGE_FACE_EMBEDDINGS, STAGE_FACE_LABELS, STAGE_IDENTITIES, STAGE_JUDGE, STAGE_KNOWN_ANSWER,
                                 STAGE_VOICE_EMBEDDINGS, STAGE_VOICE_LABELS, STAGES_FOLDER)
from v2f_bench.errors import UserError
from v2f_bench.metrics import METRICS
from v2f_bench.report import answer, budget, claims, compute, figures, known_answer, ladder, pareto, tables
from v2f_bench.report.collect import collect
from v2f_bench.report.training_status import reference_rows
from v2f_bench.report.benchmarks import read_benchmarks
from v2f_bench.report.html import Section, write_page
from v2f_bench.storage import Location

def build_report(paths: list[str], out: Path, allow_mixed: bool = False) -> dict:
    """Write the report for ``paths`` into ``out``; returns what was written and the problems met.

    Everything is written into a hidden staging folder inside ``out`` first and moved into place only
    once all of it is written, ``index.html`` last. A report that fails part-way (a full disk, a folder
    that cannot be written) is a one-line ``UserError`` and leaves ``out`` as it was: a previous report
    there stays whole and unmixed, and no page is left that looks complete.
    """
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".report-", dir=out))
    except OSError as exc:
        raise UserError(f"--out {out}: cannot write there ({exc.strerror or exc}); choose a writable directory") from None
    moved = False
    try:
        summary = _write_report(paths, staging, allow_mixed, out)
        moved = True
        for name in sorted((p.name for p in staging.iterdir()), key=lambda n: n == "index.html"):
            os.replace(staging / name, out / name)
    except OSError as exc:
        what = Path(exc.filename).name if exc.filename else "the report"
        outcome = f"only part of the report was moved into {out}" if moved else f"nothing in {out} was changed"
        raise UserError(f"--out {out}: cannot write {what} ({exc.strerror or exc}); {outcome}; free some space or choose another directory") from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    tables = {name: [out / Path(path).name for path in written] for name, written in summary["tables"].items()}
    return {**summary, "out": str(out), "page": str(out / "index.html"), "tables": tables}


def _write_report(paths: list[str], out: Path, allow_mixed: bool, final: Path) -> dict:
    """Write everything into ``out`` (the staging folder); ``final`` is where it will be moved."""
    collection = collect(paths, allow_mixed=allow_mixed)
    trials = everything = collection.trials
    collection.epochs.to_csv(out / "epochs.csv", index=False)
    sections, notes = [], list(collection.problems)
    encoders = tables.voice_encoders(trials, _encoder_order(paths))
    if len(encoders) > 1:
        sections.append(_encoder_section(trials, encoders, out))
        notes.append(f"the generator searches used {len(encoders)} voice encoders ({', '.join(encoders)}); the sections after "
                     f"'Voice encoders side by side' show the {encoders[0]} sub-study (trials.csv holds every trial)")
        trials = trials[(tables.roles(trials) != "generator") | (trials["voice_encoder"] == encoders[0])]
    generators = tables.generator_rows(trials)
    points = collection.ladder
    if not points.empty:  # the points of the trials the report shows (a voice-encoder study shows the first encoder's)
        shown = pd.Series(list(zip(points["experiment_path"], points["trial_id"]))).isin(set(zip(trials["experiment_path"], trials["trial_id"])))
        points = points[shown.to_numpy()]
    if generators.empty:
        notes.append("no generator searches among the experiments: Tables I and II need `v2f-bench compare` or `tune FAMILY` results")
        trials.to_csv(out / "trials.csv", index=False)
        written = {}
    else:
        written = tables.write_tables(trials, out)
        rungs = ladder.ladder_table(trials, points) if not points.empty else pd.DataFrame()
        sections.append(_answer_section(trials, rungs, generators, out))
        sections += _table_sections(trials, out)
        sections += _known_answer_sections(trials, generators, out)
        sections.append(_claims_section(trials, _judge_verification(generators), out))
        sections += _ladder_sections(trials, points, rungs, _judge_verification(generators), out)
        sections.append(_paired_section(trials, out))
        sections.append(_compute_section(collection, out))
        sections += _budget_sections(generators, out)
        sections += _pareto_sections(collection, generators, out, notes)
        sections += _figure_sections(collection, generators, out, notes)
    if len(everything) != len(trials):
        everything.to_csv(out / "trials.csv", index=False)
        tables._write_parquet(everything, out / "trials.parquet")
    sections += _benchmark_sections(final, notes)
    page = out / "index.html"
    sections.append(Section("Notes", note="\n".join(notes) if notes else "Nothing was skipped."))
    write_page(page, "v2f_bench report", sections)
    _write_markdown(out, sections)
    return {"out": str(out), "page": str(page), "tables": written, "problems": notes, "trials": len(everything)}


def _encoder_order(paths: list[str]) -> list[str]:
    """The voice encoders in the order a ``compare --voice-encoders`` study at one of ``paths`` lists them (its
    first is the reference of the paired differences); empty when none of the paths is such a study."""
    for path in paths:
        try:
            record = Location.parse(path).read_json(ENCODERS_RECORD)
        except (OSError, ValueError):
            record = None
        if isinstance(record, dict) and isinstance(record.get("voice_encoders"), list):
            return [str(e) for e in record["voice_encoders"]]
    return []


def _encoder_section(trials: pd.DataFrame, encoders: list[str], out: Path) -> Section:
    """Each family's Table I metric under each voice encoder, and the paired differences to the first encoder."""
    side = tables.encoder_table(trials, encoders)
    side.to_csv(out / "encoders.csv", index=False, float_format="%.6g")
    paired = tables.encoder_differences(trials, encoders)
    paired.to_csv(out / "encoder_paired.csv", index=False, float_format="%.6g")
    shown = paired[["family", "a", "b", "difference", "low", "high", "n_pairs", "better"]].assign(better=paired["better"].fillna(""))
    (out / "encoders.md").write_text(side.to_markdown(index=False, floatfmt=".2f") + "\n\n" + shown.to_markdown(index=False, floatfmt=".2f") + "\n")
    html = side.to_html(index=False, float_format=lambda v: f"{v:.2f}", na_rep="—") + shown.to_html(index=False, float_format=lambda v: f"{v:.2f}", na_rep="—")
    note = ("Test verification accuracy (%) of each family's validation-best trial per seed, under each voice encoder (same families, budget, "
            "seeds, judge and split): mean over seeds with the 95 % Student-t interval, seeds, and the test decisions per seed (n). "
            f"Below: per family, a - b with b = {encoders[0]}, paired by seed index, with the 95 % paired t-interval over n_pairs seeds "
            "(percentage points; better blank when the interval contains 0 or n_pairs < 2).")
    return Section("Voice encoders side by side (Table I metric)", html=html, note=note)


def _benchmark_sections(folder: Path, notes: list[str]) -> list[Section]:
    """The benchmark suite's results when ``benchmarks.json`` sits in the report folder."""
    try:
        found = read_benchmarks(folder)
    except ValueError as exc:
        notes.append(f"{exc}; benchmarks not shown")
        return []
    if found is None:
        return []
    table, lines = found
    return [Section("Benchmarks (python -m benchmarks; details in benchmarks.md)", html=table.to_html(index=False, float_format=lambda v: f"{v:,.3g}"),
                    note="\n".join(lines))]


def _table_sections(trials: pd.DataFrame, out: Path) -> list[Section]:
    """The four tables as rendered by ``tables`` (each with its notes and counts underneath)."""
    return [
        Section("Table I", html=(out / "table1.html").read_text()),
        Section("Table II", html=(out / "table2.html").read_text()),
        Section("Identity metrics beyond the paper", html=(out / "table_identity.html").read_text()),
        Section("Distribution metrics", html=(out / "table_distribution.html").read_text()),
    ]


def search_objective(generators: pd.DataFrame) -> tuple[str, bool]:
    """(metric, higher is better) that the generator searches optimised, from their records.

    Every aggregation over searches (expected maximum, ranking, learning curves) reads it from here,
    never from a name in the code: a space with ``mode: min`` is ranked lowest-first. Searches of
    different metrics or directions cannot share one ranking: a one-line ``UserError``.
    """
    pairs = generators[["metric", "mode"]].drop_duplicates()
    if len(pairs) != 1:
        listed = ", ".join(f"{m} ({d})" for m, d in pairs.itertuples(index=False))
        raise UserError(f"the generator searches optimise different objectives ({listed}); report them separately")
    metric, mode = pairs.iloc[0]
    return str(metric), not tables.sorts_ascending(mode, metric)


def seeds_pair_up(per_search: pd.DataFrame, family_col: str = "target") -> bool:
    """Whether every family ran the same seeds (at least two): a comparison's searches pair up seed by seed."""
    seed_sets = {frozenset(g["seed"].dropna()) for _, g in per_search.groupby(family_col)}
    return len(seed_sets) == 1 and len(next(iter(seed_sets))) >= 2


def _flops_curve(scored: pd.DataFrame, higher: bool, out: Path, label: str) -> tuple[Path | None, str]:
    """The expected best against training FLOPs (n x mean trial train_flops), or None and why not."""
    flops = pd.to_numeric(scored["train_flops"], errors="coerce") if "train_flops" in scored else pd.Series(float("nan"), index=scored.index)
    if flops.isna().any() or not (flops > 0).all():
        return None, ("Training FLOPs were not recorded for every trial (experiments older than the FLOP counter): "
                      "the expected best is drawn against trials and trial time only.")
    curve = budget.expected_max_table(scored.assign(train_flops=flops), "best_val", family_col="target", time_col="train_flops",
                                      higher_is_better=higher)
    curve.to_csv(out / "budget_flops.csv", index=False)
    path = out / "expected_max_flops.png"
    figures.expected_max_curves(curve, out / ".expected_max_flops_n.png", path, label, time_label="training FLOPs", log_time=True)
    (out / ".expected_max_flops_n.png").unlink(missing_ok=True)
    return path, "Main axis: training FLOPs, n x mean training FLOPs per trial of the family (torch.utils.flop_counter). "


def _budget_sections(generators: pd.DataFrame, out: Path) -> list[Section]:
    scored = generators[(generators["status"] != "failed") & generators["best_val"].notna()]
    if scored.empty:
        return [Section("Equal-budget view", note="every generator trial failed: nothing to draw")]
    metric, higher = search_objective(generators)
    best_word = "best" if higher else "lowest"
    curve = budget.expected_max_table(scored, "best_val", family_col="target", time_col="time_s", higher_is_better=higher)
    curve.to_csv(out / "budget.csv", index=False)
    by_n, by_time = out / "expected_max_trials.png", out / "expected_max_time.png"
    figures.expected_max_curves(curve, by_n, by_time, metric.replace("_", " "))
    trained = scored[~reference_rows(scored)]
    by_flops, flops_note = _flops_curve(trained, higher, out, metric.replace("_", " ")) if not trained.empty else (None, "")
    per_search = tables.best_per_search(generators)
    paired = seeds_pair_up(per_search)
    ranking = budget.rank_families(per_search, "best_val", family_col="target", method="welch", higher_is_better=higher, paired=paired)
    ranking.to_csv(out / "ranking.csv", index=False)
    shown = ranking[["target", "label", "mean", "low", "high", "n", "next_within_noise"]]
    test = ("the 95 % paired Student-t interval of the per-seed differences (the seeds pair up across families)" if paired
            else "Welch's 95 % interval of the difference (the seeds do not pair up across families)")
    note = (f"{flops_note}Expected {best_word} {metric} after n trials (Dodge et al. 2019) from the empirical distribution "
            "of trial scores, with 95 % bootstrap bands; the same against trial time (n x mean trial time). "
            f"Ranking by the {best_word} {metric} per search ({'higher' if higher else 'lower'} is better; mean over seeds, 95 % t-interval); "
            f"a gap to the next family is within noise when {test} contains 0, and such families share a label.")
    images = ([by_flops] if by_flops else []) + [by_n, by_time]
    if len(trained) < len(scored):
        note += (" Reference families (fitted once, not trained: " + ", ".join(sorted(set(scored["target"]) - set(trained["target"])))
                 + ") are ranked beside the others; they spend no training FLOPs, so the FLOP curve leaves them out.")
    return [Section("Equal-budget view", html=shown.to_html(index=False, float_format=lambda v: f"{v:.3f}"), images=images, note=note)]


def _claims_section(trials: pd.DataFrame, judge: dict | None, out: Path) -> Section:
    """The paper's claims with our verdicts (``claims.py``), written to claims.csv and claims.md."""
    table = claims.claims_table(trials, judge)
    claims.write_claims(table, out)
    shown = table[["claim", "paper", "ours", "verdict", "reason", "rule"]]
    note = ("Verdicts: greater (A better than B): reproduced when the interval of the paired difference lies above 0, contradicted below, "
            "undecided when it contains 0; at least x: reproduced when the lower end >= x, contradicted when the upper end < x; "
            f"about d: reproduced inside [d - {claims.ABOUT_TOLERANCE:g}, d + {claims.ABOUT_TOLERANCE:g}] points, contradicted wholly outside. "
            "Fewer than 2 paired seeds, or a family missing: undecided.")
    return Section("Claims of the paper, checked", html=shown.to_html(index=False, na_rep="—"), note=note)


def _ladder_sections(trials: pd.DataFrame, points: pd.DataFrame, table: pd.DataFrame, judge: dict | None, out: Path) -> list[Section]:
    """Table I and the claims at each rung of the budget (``ladder.py``): ladder.csv / ladder.md, claims_by_rung.csv / .md,
    ladder.png, from ``table`` (``ladder.ladder_table``, computed once for these and the answer); none when it is empty."""
    if table.empty:
        return []
    table.to_csv(out / "ladder.csv", index=False, float_format="%.6g")
    (out / "ladder.md").write_text(ladder.render(table))
    by_rung = ladder.claims_by_rung(trials, points, judge)
    by_rung.to_csv(out / "claims_by_rung.csv", index=False)
    (out / "claims_by_rung.md").write_text(by_rung.to_markdown(index=False) + "\n")
    image = figures.ladder_curves(table, out / "ladder.png")
    leaders = "; ".join(f"rung {rung}: {leader or 'no trained family'}" for rung, leader in ladder.leaders(table))
    changes = ladder.order_changes(table)
    note = (f"Each rung: the runs' test Table I accuracy (%) at that share of the budget, mean ± the half-width of the 95 % Student-t "
            f"interval over seeds, beside its chance line and training status (as in Table I); bold: the trained family ahead. Ahead: {leaders}. "
            + (f"The order changes: {'; '.join(changes)}." if changes else "The family ahead does not change along the ladder.")
            + " The tables above report the checkpoint selected on validation within the whole budget, which can be an earlier rung.")
    total, read = ladder.at_equal_total(table)
    if not read.empty:
        read.to_csv(out / "ladder_equal_total.csv", index=False, float_format="%.6g")
        note += (f" At equal total compute (ladder_equal_total.csv): training and evaluation FLOPs, {total:.3g} per run (the smallest total "
                 "a family that is not a reference reached at its top rung); each family is read at its last rung within it: "
                 + "; ".join(f"{r['family']} rung {int(r['rung'])}, {r['mean']:.1f} %" for _, r in read.iterrows()) + ". The right panel "
                 "of the figure draws the ladder against that total.")
    return [Section("Ladder of budgets", html=table.to_html(index=False, float_format=lambda v: f"{v:.3g}", na_rep="—"), images=[image], note=note),
            Section("Claims along the ladder", html=by_rung.to_html(index=False, na_rep="—"),
                    note="Each claim's verdict on the runs as they were at each rung; final: the verdict of the claims table above.")]


def _paired_section(trials: pd.DataFrame, out: Path) -> Section:
    """Every pair of families on every Table I / II metric: the mean paired difference over seeds (paired.csv)."""
    paired = tables.paired_comparisons(trials)
    paired.to_csv(out / "paired.csv", index=False, float_format="%.6g")
    shown = paired[["metric", "a", "b", "difference", "low", "high", "n_pairs", "better"]] if not paired.empty else paired
    shown = shown.assign(better=shown["better"].fillna("")) if "better" in shown else shown
    (out / "paired.md").write_text(shown.to_markdown(index=False, floatfmt=".3f") + "\n")
    note = ("Difference = mean over the seeds both families ran of (a - b) on the table's scale (accuracy in percentage points), "
            "with the 95 % paired Student-t interval over those n_pairs seeds (seeds pair up: same voice stage, judge, split and seed index); "
            "better: the better family by the metric's direction (metrics.METRICS), blank when the interval contains 0 or n_pairs < 2.")
    return Section("Paired differences between families", html=shown.to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep=""), note=note)


def _compute_section(collection, out: Path) -> Section:
    """Compute budgeted and spent per family and seed, with the precision and widths trained (compute.csv)."""
    table = compute.compute_table(collection.trials, collection.records)
    table.to_csv(out / "compute.csv", index=False, float_format="%.6g")
    (out / "compute.md").write_text(compute.render_compute(table))
    note = ("Per search (family, seed): the compute budget (FLOPs, CPU- or GPU-seconds), what it counts (train: training FLOPs; "
            "train+eval: training and evaluation FLOPs), and what its trials spent in all, from the search record: training FLOPs, "
            "evaluation FLOPs (generating and judging the faces every evaluation point is measured on) and resource-seconds; flops per "
            "face: generating one face (one forward pass for the VAE and the GANs, every sampler step for diffusion); precision and "
            "widths: the distinct values its trials trained with. —: not recorded (searches older than the count). "
            "A reference family (mean-face, nearest-identity) is fitted once in one trial: it spends next to nothing, by design.")
    images = []
    if not table.empty:
        try:
            images.append(figures.compute_costs(table, out / "compute.png"))
        except ValueError as exc:
            note += f" Figure not drawn: {exc}."
    return Section("Compute spent per family and seed", html=compute.render_compute(table, "html"), images=images, note=note)


def _pareto_sections(collection, generators: pd.DataFrame, out: Path, notes: list[str]) -> list[Section]:
    """Each family's Pareto front when the generator searches were multi-objective (``--objectives``)."""
    searched = set(generators["experiment_path"])
    sets = {tuple(tuple(o) for o in (record["search"].get("objectives") or ())) for path, record in collection.records.items() if path in searched}
    multi = {objectives for objectives in sets if len(objectives) > 1}
    if not multi:
        return []
    if len(sets) > 1:
        notes.append("the generator searches have different objectives: no Pareto front is drawn; report them separately")
        return []
    objectives = multi.pop()
    table = pareto.pareto_table(generators, collection.epochs, objectives)
    front = table[table["non_dominated"]].drop(columns="non_dominated")
    front.to_csv(out / "pareto.csv", index=False)
    (out / "pareto.md").write_text(front.to_markdown(index=False, floatfmt=".4f") + "\n")
    names = [metric.removeprefix("val_") for metric, _ in objectives]
    images = []
    if len(names) == 2:
        factors = tuple(tables.display_factor(n) if n in METRICS else 1.0 for n in names)
        paper = {family: (values[names[0]], values[names[1]]) for family, values in tables.PAPER.items() if names[0] in values and names[1] in values}
        images.append(figures.pareto_fronts(table, names[0], names[1], out / "pareto_fronts.png", factors, paper or None))
    else:
        notes.append(f"{len(names)} objectives: the Pareto table is written, the figure is drawn for two objectives only")
    directions = ", ".join(f"{m} ({d})" for m, d in objectives)
    note = (f"Objectives: {directions}. Per family (seeds pooled) the trials no other trial of the family dominates on validation "
            f"values, at the epoch selected by the first objective; their test values are shown. {len(front)} of {len(table)} trials are "
            "non-dominated." + (" Stars: the paper's published values (Tables I and II)." if images and len(names) == 2 and paper else ""))
    return [Section("Pareto fronts (multi-objective searches)", html=front.to_html(index=False, float_format=lambda v: f"{v:.4f}"),
                    images=images, note=note)]


def _figure_sections(collection, generators: pd.DataFrame, out: Path, notes: list[str]) -> list[Section]:
    sections = []
    curves = out / "learning_curves.png"
    epochs = tables.generator_rows(collection.epochs)
    metric, _ = search_objective(generators)
    if metric in epochs:
        if "rung" not in epochs:  # trials that evaluate at rungs of a FLOP budget are drawn against FLOPs only
            figures.learning_curves(epochs, metric, curves)
            sections.append(Section(f"Learning curves ({metric} per epoch)", images=[curves]))
        flops = pd.to_numeric(epochs.get("train_flops", pd.Series(dtype=float)), errors="coerce")
        if (flops > 0).any():
            by_flops = figures.learning_curves(epochs, metric, out / "learning_curves_flops.png", x_col="train_flops", log_x=True,
                                               title=f"Learning curves: {metric}\nagainst cumulative training FLOPs")
            sections.append(Section(f"Learning curves ({metric} against training FLOPs)", images=[by_flops]))
        else:
            notes.append("no trial reported train_flops (experiments older than the FLOP counter): learning curves are drawn per epoch only")
    stages = _stage_folder(generators)
    if stages is None:
        notes.append("no stage artifacts beside the generator searches: t-SNE and the tau curve are not drawn")
    else:
        sections.append(_stage_section(stages, out))
    if not (out / "faces_grid.png").is_file():
        notes.append("no sample faces in the selected checkpoints: the generated-face grid is not drawn")
    return sections


def _answer_section(trials: pd.DataFrame, rungs: pd.DataFrame, generators: pd.DataFrame, out: Path) -> Section:
    """The first screen: the answer in sentences (``answer.py``, also answer.md) beside the face grid (Fig. 10) and
    samples.npz, the faces behind it."""
    lines = answer.answer(trials, rungs)
    (out / "answer.md").write_text("\n".join(f"- {line}" for line in lines) + "\n")
    kept = _write_samples(generators, out)
    grid = _faces_grid(generators, out)
    held = (f" Below: real target faces beside each family's generated faces for the same test voices (Fig. 10); {SAMPLES_FILE} holds the "
            f"faces behind it for all {kept} family-seed pairs (generated, target, identity label; numpy arrays, no pickle).") if grid and kept else ""
    body = "".join(f"<p>{html.escape(line)}</p>" for line in lines)
    return Section("The answer", html=body, images=[grid] if grid else [], note=held.strip())


def _known_answer_sections(trials: pd.DataFrame, generators: pd.DataFrame, out: Path) -> list[Section]:
    """On the synthetic stand-in: the families' identity scores beside chance and the ceiling, and the trait probe
    (``known_answer.md`` / ``known_answer.csv``); none on real data."""
    stages = _stage_folder(generators)
    known = stages.read_json(STAGE_KNOWN_ANSWER) if stages is not None else None
    if not known:
        return []
    coupling = f"the stand-in's coupling is {known['coupling']:g} (data.synth_traits)"
    if known.get("ceiling") is None:
        (out / "known_answer.md").write_text(f"{known['why']}; {coupling}.\n")
        return [Section("Known answer (synthetic stand-in)", note=f"{known['why']}; {coupling}.")]
    table = known_answer.known_answer_table(trials, known)
    table.to_csv(out / "known_answer.csv", float_format="%.6g")
    lines = known_answer.verdict_lines(table) + known_answer.probe_lines(known)
    (out / "known_answer.md").write_text(known_answer.render(table) + "\n" + "\n".join(f"- {line}" for line in lines) + "\n")
    note = (f"Test split, % (mean ± half-width of the 95 % interval over seeds; [normalised: 0 = chance, 1 = the expected ceiling]). "
            f"The ceiling: the best any method can reach in expectation, an oracle that knows everything the voice carries about "
            f"the face (its sex and trait-linked voice parameters) and each candidate face's sex and trait-linked parameters "
            f"(v2f_bench/known_answer.py); its ± is 1.96 Monte Carlo standard errors; {coupling}. " + " ".join(lines))
    return [Section("Known answer (synthetic stand-in)", html=known_answer.cells(table).to_html(index=False), note=note)]


def _judge_verification(generators: pd.DataFrame) -> dict | None:
    """The judge stage's test verification on real faces ({"accuracy": fraction, "n_pairs", ...}), or None without stage artifacts."""
    stages = _stage_folder(generators)
    return None if stages is None else stages.read_json(STAGE_JUDGE).get("test_verification")


def _stage_folder(generators: pd.DataFrame) -> Location | None:
    for path in generators["experiment_path"].unique():
        folder = Location.parse(path).child(STAGES_FOLDER)
        if folder.read_json(STAGE_JUDGE) is not None:
            return folder
    return None


def _stage_section(stages: Location, out: Path) -> Section:
    judge = stages.read_json(STAGE_JUDGE)
    names = [row["voice_id"] for row in stages.read_json(STAGE_IDENTITIES)["identities"]]
    tau_png, voice_png, face_png = out / "tau_curve.png", out / "tsne_voice.png", out / "tsne_faces.png"
    calibration = judge["calibration"]
    figures.tau_curve(calibration["curve"], calibration["tau"], tau_png)
    voice_labels = stages.read_array(STAGE_VOICE_LABELS)
    face_labels = stages.read_array(STAGE_FACE_LABELS)
    figures.tsne(stages.read_array(STAGE_VOICE_EMBEDDINGS), np.array(names)[voice_labels], "voice embeddings (clips)", voice_png)
    figures.tsne(stages.read_array(STAGE_FACE_EMBEDDINGS), np.array(names)[face_labels], "face judge embeddings (real photos)", face_png)
    verification = judge["test_verification"]
    note = (f"Judge ({judge['config']['kind']}): tau = {calibration['tau']:.2f} ({calibration['distance']}, chosen by "
            f"{calibration['criterion']} on validation photos); on test photos: verification accuracy "
            f"{100 * verification['accuracy']:.1f} %, F1 {verification['f1']:.3f} over {verification['n_pairs']} pairs "
            f"({verification['n_same']} same-identity). The paper: 93.9 % at tau 0.77.")
    return Section("The judge and the embeddings (Fig. 2, Fig. 4)", images=[voice_png, face_png, tau_png], note=note)


def _faces_grid(generators: pd.DataFrame, out: Path) -> Path | None:
    best = tables.best_per_search(generators).sort_values(["target", "seed"]).drop_duplicates("target")
    generated, real = {}, None
    for _, row in best.iterrows():
        if not isinstance(row.get("checkpoint"), str):
            continue
        checkpoint = Location.parse(row["checkpoint"])
        faces = checkpoint.read_array(SAMPLE_GENERATED)
        if faces is None:
            continue
        generated[row["target"]] = faces
        real = checkpoint.read_array(SAMPLE_TARGETS) if real is None else real
    if real is None:
        return None
    grid = out / "faces_grid.png"
    figures.faces_grid(real, generated, grid)
    return grid


SAMPLES_FILE = "samples.npz"
"""The faces behind the grid, for anyone to check with their own tools: for every family and seed, the selected
trial's ``<family>__seed<seed>__generated`` (K, 64, 64, 3) uint8 faces from the first test clip of each identity,
``__targets`` the identities' target faces, ``__labels`` their identity labels (no pickled objects)."""


def _write_samples(generators: pd.DataFrame, out: Path) -> int:
    """Write ``SAMPLES_FILE`` from the selected trial of every search; returns how many family-seed pairs it holds."""
    arrays = {}
    for _, row in tables.best_per_search(generators).iterrows():
        if not isinstance(row.get("checkpoint"), str):
            continue
        checkpoint = Location.parse(row["checkpoint"])
        found = {part: checkpoint.read_array(name) for part, name in
                 (("generated", SAMPLE_GENERATED), ("targets", SAMPLE_TARGETS), ("labels", SAMPLE_LABELS))}
        if any(value is None for value in found.values()):
            continue
        arrays.update({f"{row['target']}__seed{int(row['seed'])}__{part}": value for part, value in found.items()})
    if arrays:
        np.savez_compressed(out / SAMPLES_FILE, **arrays)
    return len(arrays) // 3


def _write_markdown(out: Path, sections: list[Section]) -> None:
    """A Markdown version of the page: tables from their .md files, images by relative link."""
    parts = ["# v2f_bench report", ""]
    markdown_tables = {"The answer": "answer.md", "Table I": "table1.md", "Table II": "table2.md", "Identity metrics": "table_identity.md", "Distribution metrics": "table_distribution.md", "Pareto fronts": "pareto.md",
                       "Claims of the paper, checked": "claims.md", "Paired differences between families": "paired.md",
                       "Compute spent per family and seed": "compute.md", "Ladder of budgets": "ladder.md",
                       "Claims along the ladder": "claims_by_rung.md"}
    if (out / "ranking.csv").is_file():
        markdown_tables["Equal-budget view"] = "ranking.md"
        ranking = pd.read_csv(out / "ranking.csv")[["target", "label", "mean", "low", "high", "n", "next_within_noise"]]
        (out / "ranking.md").write_text(ranking.to_markdown(index=False, floatfmt=".3f") + "\n")
    for section in sections:
        parts += [f"## {section.heading}", ""]
        for prefix, file in markdown_tables.items():
            if (section.heading == prefix or section.heading.startswith(prefix + " ")) and (out / file).is_file():
                parts += [(out / file).read_text(), ""]
        parts += [f"![{Path(image).stem}]({Path(image).name})" for image in section.images]
        if section.note:
            parts += ["", "```", section.note, "```", ""]
    (out / "report.md").write_text("\n".join(parts) + "\n")
