"""What every benchmark section returns, and how the suite writes them to ``reports/benchmarks.md``.

A section is one comparison: a baseline measured in the same run, the paths compared with it
(each with its throughput or cost and its ratio to the baseline), the goal the project set for it,
whether the measurement met that goal, and notes that explain the number (above all where a goal
is missed). Ratios are always "how many times better than the baseline", so > 1 is better.
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from pathlib import Path

import torch


def shown_command(prog: str, argv: list[str], positional: str = "PATH") -> str:
    """The command ``prog argv`` as a report records it, free of the paths of the machine that ran it: an absolute path
    inside the repository is shown relative to it; one outside (a scratch folder, a run directory) as its option's name
    in capitals (``--work WORK``), or as ``positional``."""
    root = Path(__file__).resolve().parents[1]
    shown = []
    for k, arg in enumerate(argv):
        option, _, value = arg.partition("=") if arg.startswith("--") else ("", "", arg)
        path = Path(value)
        if value and path.is_absolute():
            if path.resolve().is_relative_to(root):
                value = str(path.resolve().relative_to(root))
            else:
                before = option or (argv[k - 1] if k and argv[k - 1].startswith("--") else "")
                value = before.lstrip("-").replace("-", "_").upper() if before else positional
            arg = f"{option}={value}" if option else value
        shown.append(arg)
    return " ".join([prog, *shown])


@dataclass
class Row:
    """One measured path: ``value`` in ``unit``, and ``ratio`` to the section's baseline (None for the
    baseline itself; NaN for a figure that is reported but not compared, shown as a dash)."""

    label: str
    value: float
    unit: str
    ratio: float | None = None


@dataclass
class Section:
    title: str
    method: str
    rows: list[Row]
    goal: str | None = None
    met: bool | None = None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    name: str = ""
    """The section's name in ``benchmarks.SECTIONS``."""
    written: str = ""
    """When and by which command it was measured (a file updated with ``--update`` holds sections of several runs)."""


def _number(value: float) -> str:
    if value == 0 or abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 1:
        return f"{value:.2f}"
    return f"{value:.3g}"


def _goal_line(section: Section) -> str:
    if section.goal is None:
        return ""
    verdict = {True: "met", False: "**not met**", None: "not judged"}[section.met]
    return f"Goal: {section.goal} — {verdict}.\n\n"


def section_markdown(section: Section) -> str:
    lines = [f"## {section.title}\n", f"{section.method}\n"] + (["| path | measured | x baseline |", "|---|---:|---:|"] if section.rows else [])
    for row in section.rows:
        ratio = "baseline" if row.ratio is None else "—" if math.isnan(row.ratio) else f"{row.ratio:.2f}"
        lines.append(f"| {row.label} | {_number(row.value)} {row.unit} | {ratio} |")
    text = "\n".join(lines) + "\n\n" + _goal_line(section)
    text += "".join(f"- {note}\n" for note in section.notes)
    return text + f"\n_Section took {section.seconds:.0f} s._\n"


def machine_line() -> str:
    import os

    cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no CUDA device"
    return (f"{platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs visible, "
            f"torch {torch.__version__} ({torch.get_num_threads()} threads), {cuda}")


def summary_table(sections: list[Section]) -> str:
    lines = ["| section | goal | met | took |", "|---|---|---|---:|"]
    for s in sections:
        met = {True: "yes", False: "no", None: "—"}[s.met]
        lines.append(f"| {s.title} | {s.goal or '—'} | {met} | {s.seconds:.0f} s |")
    return "\n".join(lines) + "\n"
