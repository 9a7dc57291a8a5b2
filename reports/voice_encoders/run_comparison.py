"""The script that made this folder: paper-text against ge2e under the default profile's settings
(3 seeds, 2.4 TFLOP per search, one trial at the family's defaults, width-16 bf16 GANs, per-window
evaluation, the trained judge with the profile's 8 epochs), once per voice encoder, then the report.

`v2f-bench compare --voice-encoders paper-text,ge2e` runs the same comparison, but the CLI has no
flags for the profile's fixed widths and defaults-first trial, so this script calls the API with
them. Run it as `python reports/voice_encoders/run_comparison.py vae runs/paper/prepared runs/encoders`:
the families (comma-separated), a prepared dataset (`v2f-bench paper` leaves the default's in
runs/paper/prepared) and a work folder for the stages, searches and the report (WORK/report)."""
import sys, time, json
from pathlib import Path
from v2f_bench.compare import run_encoder_comparison
from v2f_bench.compute import parse_compute_budget
from v2f_bench.data.prepared import load_prepared
from v2f_bench.judge import JudgeConfig
from v2f_bench.parallel import ray_session
from v2f_bench.pipeline import PROFILES
from v2f_bench.search import Budget
from v2f_bench.report.build import build_report

families = sys.argv[1].split(",")
prepared_dir, work = Path(sys.argv[2]), Path(sys.argv[3])
p = PROFILES["default"]
NAME = "encoders-" + "-".join(families)
prepared = load_prepared(prepared_dir)
run_dir = work / "run"
budget = Budget(trials=p.trials, max_epochs=p.max_epochs, grace_period=1, compute=parse_compute_budget(p.compute_budget).as_dict(),
                cpus_per_trial=p.generator_cpus_per_trial, gpus_per_trial=0, concurrency=p.generator_concurrency)
started = time.time()
with ray_session("local"):
    record = run_encoder_comparison(["paper-text", "ge2e"], families, p.seeds, budget, prepared, run_dir, {}, JudgeConfig(epochs=p.judge_epochs, seed=0),
                                    str(work / "searches"), NAME, 0, eval_unit=p.eval_unit, fixed=p.fixed, defaults_first=p.defaults_first)
print("compare wall s", time.time() - started)
summary = build_report([str(work / "searches" / NAME)], work / "report")
print("total wall s", time.time() - started)
