"""``v2f-bench train``'s outcome as text (the task's ``train_once`` trains the one configuration)."""

from __future__ import annotations

from v2f_bench.compute import COMPUTE_KEYS, compute_line
from v2f_bench.metrics import METRICS


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
