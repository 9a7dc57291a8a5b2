"""The benchmark suite's results (``benchmarks.json`` written by ``python -m benchmarks``) as a report section.

The suite writes its results beside the report (``reports/benchmarks.md`` and ``.json``); when the
JSON sits in the report's output folder the page shows every measured row with its ratio to the
baseline, and each section's goal with whether it was met.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from v2f_bench.artifacts import BENCHMARKS_RESULTS


def read_benchmarks(folder: Path) -> tuple[pd.DataFrame, list[str]] | None:
    """(one row per measured path, one line per section's goal) from ``folder/benchmarks.json``;
    None when the file is absent. A file that cannot be read raises ValueError naming it."""
    path = Path(folder) / BENCHMARKS_RESULTS
    if not path.is_file():
        return None
    try:
        content = json.loads(path.read_text())
        sections = content["sections"]
        rows = [{"section": s["title"], "path": r["label"], "measured": r["value"], "unit": r["unit"],
                 "x baseline": "baseline" if r["ratio"] is None else f"{r['ratio']:.2f}".replace("nan", "—")}
                for s in sections for r in s["rows"]]
        goals = [f"{s['title']}: {s['goal']}: {'met' if s['met'] else 'NOT met'}" for s in sections if s.get("goal")]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ValueError(f"{path}: not the benchmark suite's results ({type(exc).__name__}: {exc}); rerun `python -m benchmarks`") from None
    return pd.DataFrame(rows), [f"Machine: {content.get('machine', 'unknown')}", *goals]
