"""``v2f-bench train``: one configuration of a target through its task's Ray trial, and its metrics as text."""

from __future__ import annotations

from pathlib import Path

from v2f_bench.compute import COMPUTE_KEYS, compute_line
from v2f_bench.data.prepared import PreparedDataset
from v2f_bench.errors import UserError
from v2f_bench.judge import JudgeConfig
from v2f_bench.metrics import METRICS
from v2f_bench.storage import Location
from v2f_bench.tasks.generator import GeneratorTask, generator_data
from v2f_bench.tasks.judge import judge_stage
from v2f_bench.tasks.voice import VoiceTask, voice_stage
from v2f_bench.trials import checkpoint_metrics, run_one
from v2f_bench.voice_encoders.registry import resolve_voice_encoder


def train_voice_once(prepared: PreparedDataset, run_dir: Path, config: dict, voice_encoder: str | None = None) -> dict:
    """``v2f-bench train voice``: one voice configuration of a trainable encoder; returns its validation and test metrics."""
    chosen = resolve_voice_encoder(voice_encoder, config)
    VoiceTask.target("voice", chosen.name).check(config)
    record = voice_stage(prepared, run_dir, config, encoder=chosen.name)
    return {"target": "voice", "config": record["config"], "epoch": record["epoch"], "epochs_trained": record["epochs_trained"],
            "val": record["val"], "test": record["test"]}


def train_generator_once(
    prepared: PreparedDataset, run_dir: Path, family: str, config: dict, voice_config: dict, judge: JudgeConfig, storage: str | None = None,
    eval_unit: str = "window", voice_encoder: str | None = None, audio_root: Path | None = None, gallery: dict | None = None,
) -> dict:
    """``v2f-bench train FAMILY``: the voice and judge stages (reused when cached), then one generator trial."""
    if family not in GeneratorTask.names():
        raise UserError(f"{family!r} is not a generator family; train_generator_once trains one of the registered families")
    GeneratorTask.target(family).check(config)
    voice = voice_stage(prepared, run_dir, voice_config, storage, voice_encoder, audio_root)
    judge_record = judge_stage(prepared, run_dir, judge)
    data = generator_data(prepared, run_dir, voice, judge_record, eval_unit, gallery)
    trials = str(Location.parse(storage).child("trials")) if storage else Path(run_dir) / "trials"
    result = run_one(data, {**config, "family": family}, trials, f"train_{family}")
    return {"target": family, "config": result.config, **checkpoint_metrics(result),
            "judge": {"name": judge_record["judge"], "tau": judge_record["calibration"]["tau"]},
            "voice": voice["test"], "voice_encoder": voice["encoder"], "path": result.path}


def format_trial(outcome: dict) -> str:
    """One trained configuration's metrics as aligned text, grouped as the paper's tables, validation beside test."""
    lines = [f"{outcome['target']}: " + ", ".join(f"{k}={v}" for k, v in sorted(outcome["config"].items()))]
    epoch, trained = outcome["epoch"], outcome["epochs_trained"]
    kept = "the last" if epoch == trained else "the best on validation"
    lines.append(f"  model of epoch {epoch} ({kept} of {trained} trained): val and test below both describe it")
    names = sorted({key.split("_", 1)[1] for part in ("val", "test") for key in outcome[part] if "_" in key and key.split("_", 1)[0] in ("val", "test")})
    groups = {"Table I": "I", "Table II": "II", "identity (beyond the paper)": "identity"}
    lines.append(f"  {'metric':<28}{'val':>12}{'test':>12}")
    for title, table in groups.items():
        members = [n for n in names if n in METRICS and METRICS[n].table == table]
        if members:
            lines.append(f"  {title}")
        for name in members:
            cells = [outcome[part].get(f"{part}_{name}") for part in ("val", "test")]
            lines.append(f"    {name:<26}" + "".join(f"{c:>12.4f}" if isinstance(c, float) else f"{'-':>12}" for c in cells))
    others = [n for n in names if n not in METRICS]
    for name in others:
        cells = [outcome[part].get(f"{part}_{name}") for part in ("val", "test")]
        lines.append(f"    {name:<26}" + "".join(f"{c:>12.4f}" if isinstance(c, float) else f"{'-':>12}" for c in cells))
    losses = {k: v for k, v in outcome["val"].items() if not k.startswith("val_") and k != "epoch" and k not in COMPUTE_KEYS}
    if all(key in outcome["val"] for key in COMPUTE_KEYS):
        lines.append(f"  compute to epoch {epoch}: {compute_line(outcome['val'])}")
    if losses:
        lines.append(f"  epoch {epoch} training: " + ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in sorted(losses.items())))
    if "path" in outcome:
        lines.append(f"  trial directory: {outcome['path']}")
    return "\n".join(lines)
