"""Convergence: how each generator family learns as its training compute grows far past the study's budget.

Run:  .venv/bin/python -m benchmarks.convergence RUN_DIR [--out reports/convergence] [--budget 19.2TFLOP] [--rungs 8]
          [--families vae,cgan,rcgan] [--variant cgan-shuffled=cgan:mismatch=shuffled] [--image-size 64] [--seed 0]

``RUN_DIR`` is a ``v2f-bench paper`` run directory: its prepared data and its voice and judge stages are what
every trial of the study meets. Each family (and each ``--variant``: a label, a family and settings) trains once
with the default profile's fixed settings (``pipeline.PROFILES["default"].fixed``: widths and precision) and ``--image-size`` and its defaults,
through the generator task's own loop (``tasks.generator.generator_epochs``) without Ray, with ``budget_flops`` =
``--budget`` and ``--rungs`` log-spaced evaluation points (``rung_fractions``: 1/2^(rungs-1) ... 1/2, 1 of it).
At each point it records the validation metrics, their chance line (one fixed face for every voice, the mean
training face) and the faces of the first test voice of every identity.

Writes into ``--out``: ``convergence.json`` (every point of every run, the settings and the machine),
``convergence.md`` (the validation Table I accuracy at each point and where it plateaus), ``curves.png``
(validation Table I and top-1 against training FLOPs, log scale, with the chance line) and one face grid per
run (``faces_<label>.png``: one row per identity, the target face, then one column per evaluation point).

Plateau (``plateau``): the first point whose validation accuracy is within ``PLATEAU_POINTS`` of the best
any point reached; when that is the last point, the curve was still rising at the cap and the table says so.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from v2f_bench.errors import UserError

PLATEAU_POINTS = 0.02
"""Validation accuracy within this (absolute, on [0, 1]) of a run's best counts as its plateau."""


def plateau(values: list[float], within: float = PLATEAU_POINTS) -> int:
    """Index of the first value within ``within`` of the maximum of ``values``."""
    best = max(values)
    return next(k for k, v in enumerate(values) if v >= best - within)


def parse_variant(text: str) -> tuple[str, str, dict]:
    """``label=family:key=value,key=value`` -> (label, family, settings); a value is read as JSON (numbers, true, false),
    else kept as text."""
    label, _, rest = text.partition("=")
    family, _, pairs = rest.partition(":")
    usage = f"--variant {text!r}: write label=family:key=value,... (e.g. cgan-shuffled=cgan:mismatch=shuffled)"
    if not label or not family:
        raise UserError(usage)
    settings = {}
    for pair in filter(None, pairs.split(",")):
        key, equals, value = pair.partition("=")
        if not key or not equals:
            raise UserError(usage)
        try:
            settings[key] = json.loads(value)
        except ValueError:
            settings[key] = value
    return label, family, settings


def run_family(label: str, family: str, settings: dict, data: dict, budget: float, rungs: int, image_size: int, seed: int) -> dict:
    """Train one run to ``budget`` and return its points, each with the seconds since the start and the sample faces."""
    import torch

    from v2f_bench.compute import ComputeMeter
    from v2f_bench.tasks.generator import generator_epochs

    from v2f_bench.pipeline import PROFILES

    declared = data["families"][family].defaults
    fixed = {k: v for k, v in PROFILES["default"].fixed.items() if k in declared or k == "precision"}
    config = {"family": family, "image_size": image_size, "budget_flops": budget, "rungs": rungs, "max_epochs": 100000, "seed": seed,
              **fixed, **settings}
    meter = ComputeMeter(torch.get_num_threads(), 1.0 if torch.cuda.is_available() else 0.0)
    started = time.perf_counter()
    points, faces = [], []
    for epoch in generator_epochs(config, data, meter):
        row = {k: v for k, v in epoch.row.items() if isinstance(v, int | float)}
        points.append({**row, "train_flops": meter.train_flops, "train_steps": meter.train_steps, "eval_flops": meter.eval_flops,
                       "seconds": time.perf_counter() - started})
        faces.append(epoch.arrays)
        print(f"{label}: point {row['rung']} of {rungs}, {meter.train_flops / 1e12:.3g} TFLOP, epoch {row['epoch']}: val Table I "
              f"{100 * row['val_verification_accuracy']:.1f} % (chance {100 * row['val_chance_verification_accuracy']:.1f}), "
              f"top-1 {100 * row['val_top1']:.1f} % [{points[-1]['seconds']:.0f} s]", flush=True)
    return {"label": label, "family": family, "config": config, "points": points, "faces": faces}


def write_outputs(runs: list[dict], out: Path, meta: dict) -> None:
    """``convergence.json``, ``convergence.md``, ``curves.png`` and a face grid per run (see the module docstring)."""
    import pandas as pd

    from v2f_bench.compute import format_flops
    from v2f_bench.report.figures import faces_grid, learning_curves

    out.mkdir(parents=True, exist_ok=True)
    (out / "convergence.json").write_text(json.dumps({**meta, "runs": [{k: v for k, v in r.items() if k != "faces"} for r in runs]}, indent=1))
    rows = [{"trial_id": r["label"], "family": r["label"], **p} for r in runs for p in r["points"]]
    frame = pd.DataFrame(rows)
    chance = float(np.mean([p["val_chance_verification_accuracy"] for r in runs for p in r["points"]]))
    for metric, name, line in (("val_verification_accuracy", "curves.png", chance),
                               ("val_top1", "curves_top1.png", float(np.mean([p["val_chance_top1"] for r in runs for p in r["points"]])))):
        learning_curves(frame, metric, out / name, family_col="family", x_col="train_flops", log_x=True, chance=line,
                        title=f"{metric} against training FLOPs (seed {meta['seed']}, {meta['image_size']} px)")
    for run in runs:
        first = next(f for f in run["faces"] if f)
        columns = {format_flops(p["train_flops"]): f["samples_generated.npy"] for p, f in zip(run["points"], run["faces"]) if f}
        faces_grid(first["samples_target.npy"], columns, out / f"faces_{run['label']}.png",
                   row_labels=[f"id {int(c)}" for c in first["samples_label.npy"]], title=f"{run['label']}: test voices' faces at each point")
    (out / "convergence.md").write_text(markdown(runs, meta))


def markdown(runs: list[dict], meta: dict) -> str:
    """The table of validation accuracy at every point, and each run's plateau."""
    from v2f_bench.compute import format_flops
    from v2f_bench.tasks.generator import rung_fractions

    lines = [f"# Convergence of the generator families (seed {meta['seed']}, {meta['image_size']} px, budget {format_flops(meta['budget'])})", "",
             f"Command: `{meta['command']}`. Machine: {meta['machine']['cpu_model']}, {meta['threads']} threads. Run directory stages: voice `{meta['voice']}`, judge tau "
             f"{meta['tau']:.3f}. Each cell: validation Table I accuracy (%) at tau; its chance line (one fixed face, the mean "
             f"training face, for every voice) is {100 * meta['chance']:.1f} %; n = {meta['val_decisions']} validation decisions. Columns: the "
             "nominal evaluation points (each run evaluates after the first step that reaches one, so within one step of it).", ""]
    header = " | ".join(format_flops(f * meta["budget"]) for f in rung_fractions(meta["rungs"]))
    lines.append(f"| run | {header} | plateau | wall |")
    lines.append("|---|" + "---:|" * (meta["rungs"] + 2))
    for run in runs:
        values = [p["val_verification_accuracy"] for p in run["points"]]
        k = plateau(values)
        still = " (still rising at the cap)" if k == len(values) - 1 and len(values) > 1 else ""
        if max(values) <= meta["chance"]:
            still = " (never above chance)"
        where = f"{format_flops(run['points'][k]['train_flops'])}: {100 * values[k]:.1f} %{still}"
        lines.append(f"| {run['label']} | " + " | ".join(f"{100 * v:.1f}" for v in values) + f" | {where} | {run['points'][-1]['seconds']:.0f} s |")
    lines += ["", "Top-1 identification among the validation identities (%, chance "
              f"{100 * np.mean([p['val_chance_top1'] for r in runs for p in r['points']]):.1f}) and identity spread "
              "(0 = every identity gets the same face; 1 = as far apart as the real target faces):", ""]
    lines.append(f"| run | {header} |")
    lines.append("|---|" + "---:|" * meta["rungs"])
    for run in runs:
        lines.append(f"| {run['label']} | " + " | ".join(f"{100 * p['val_top1']:.1f} / {p.get('val_identity_spread', float('nan')):.2f}"
                                                     for p in run["points"]) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    import sys

    import torch

    from benchmarks.results import shown_command
    from v2f_bench.compute import parse_compute_budget
    from v2f_bench.data.prepared import load_prepared
    from v2f_bench.provenance import machine
    from v2f_bench.tasks.generator import generator_data

    parser = argparse.ArgumentParser(prog="python -m benchmarks.convergence", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=Path, help="a `v2f-bench paper` run directory (prepared data, voice and judge stages)")
    parser.add_argument("--out", type=Path, default=Path("reports/convergence"))
    parser.add_argument("--budget", default="19.2TFLOP", help="training FLOPs of each run (default 16x the default profile's 1.2 TFLOP)")
    parser.add_argument("--rungs", type=int, default=8, help="log-spaced evaluation points, halving from the budget")
    parser.add_argument("--families", default="vae,cgan,rcgan")
    parser.add_argument("--variant", action="append", default=[], help="label=family:key=value,... (another run)")
    parser.add_argument("--image-size", type=int, default=64, choices=(32, 64))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run_dir = args.run_dir
    missing = [p for p in ("prepared/manifest.json", "voice/stage.json", "judge/stage.json") if not (run_dir / p).is_file()]
    if missing:
        print(f"{run_dir}: not a paper run directory (missing {', '.join(missing)}); run `v2f-bench paper --out {run_dir}` first", file=sys.stderr)
        return 2
    budget = parse_compute_budget(args.budget)
    if budget.unit != "flops":
        print(f"--budget {args.budget}: give FLOPs (e.g. 19.2TFLOP)", file=sys.stderr)
        return 2
    prepared = load_prepared(run_dir / "prepared")
    voice = json.loads((run_dir / "voice" / "stage.json").read_text())
    judge = json.loads((run_dir / "judge" / "stage.json").read_text())
    data = generator_data(prepared, run_dir, voice, judge)
    try:
        plan = [(name, name, {}) for name in filter(None, args.families.split(","))] + [parse_variant(v) for v in args.variant]
        unknown = [family for _, family, _ in plan if family not in data["families"]]
        if unknown or not plan:
            raise UserError(f"--families/--variant: {unknown[0]!r} is not a generator family; known: {', '.join(sorted(data['families']))}"
                            if unknown else "--families and --variant name no run; give at least one")
    except UserError as exc:
        print(f"python -m benchmarks.convergence: error: {exc}", file=sys.stderr)
        return 2
    runs = [run_family(label, family, settings, data, budget.amount, args.rungs, args.image_size, args.seed) for label, family, settings in plan]
    meta = {"command": shown_command("python -m benchmarks.convergence", argv if argv is not None else sys.argv[1:], "RUN_DIR"), "machine": machine(),
            "budget": budget.amount, "rungs": args.rungs, "image_size": args.image_size, "seed": args.seed, "threads": torch.get_num_threads(),
            "voice": voice["encoder"], "tau": judge["calibration"]["tau"],
            "chance": runs[0]["points"][0]["val_chance_verification_accuracy"],
            "val_decisions": int((np.asarray(data["clip_split"]) == "val").sum())}
    write_outputs(runs, args.out, meta)
    print(f"wrote {args.out}/convergence.md")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
