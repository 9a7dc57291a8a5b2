"""The benchmark suite: every section in one run, written to ``reports/benchmarks.md``.

Run:  .venv/bin/python -m benchmarks [--quick] [--only main,prepare,...] [--families vae,cgan,rcgan] [--out reports/benchmarks.md]

Writes the Markdown file and, beside it, the same results as JSON (``benchmarks.json``), which
``v2f-bench report`` turns into a section of the HTML page when it finds it in its output folder.

Sections (each a ratio against a baseline measured in the same run; see each module's docstring):
main (``v2f-bench paper``, default profile), prepare, train, metrics, search, sharing, scale, gpu. The main
command runs first: the search section compares its per-trial overhead with that run's trials, and
the search and sharing sections reuse its prepared data. A section that fails is written as failed
with its reason and the others still run; the exit status is then 1. The full suite takes about
25 minutes on 2 cores (most of it the main command); ``--quick`` runs small versions in a few.

The gpu section needs a CUDA device and is written as skipped without one (not a failure). It runs
without Ray: ``python -m benchmarks --only gpu --out reports/benchmarks_gpu.md`` needs only torch,
since this module and ``results`` import nothing else at module level (see DEVELOPERS.md).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.results import Section, machine_line, section_markdown, shown_command, summary_table

SECTIONS = ("main", "prepare", "train", "metrics", "search", "sharing", "scale", "gpu")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "reports" / "benchmarks.md"


def run_section(name: str, quick: bool, work: Path, shared: dict) -> Section:
    """Measure one section; ``shared`` carries what later sections use from earlier ones."""
    if name == "main":
        from benchmarks import main_command

        section, shared["generator_trials"] = main_command.measure(quick, work)
        return section
    if name == "search":
        from benchmarks import search

        return search.measure(quick, work, shared.get("generator_trials"))
    if name == "sharing":
        from benchmarks import sharing

        return sharing.measure(quick, work)
    if name == "scale":
        from benchmarks import scale

        return scale.measure(quick, work / "scale")
    if name == "train":
        from benchmarks import train

        return train.measure(quick, shared["families"])
    module = __import__(f"benchmarks.{name}", fromlist=["measure"])
    return module.measure(quick)


def failed_section(name: str, error: BaseException, seconds: float) -> Section:
    reason = "".join(traceback.format_exception_only(type(error), error)).strip().splitlines()[-1]
    return Section(title=f"{name} (failed)", method=f"The section raised: `{reason}`", rows=[], met=False,
                   goal="section completes", seconds=seconds)


TITLE_STARTS = {"main": "Main command", "prepare": "Preparation", "train": "Training", "metrics": "Metrics", "search": "Search throughput",
                "sharing": "Data sharing", "scale": "Scale", "gpu": "GPU"}
"""How each section's title starts: the name of a section in a file written before sections carried their names."""


def earlier_sections(out: Path) -> list[Section]:
    """The sections of the JSON beside ``out``, each with its name and when it was written (for ``--update``)."""
    import re

    from benchmarks.results import Row

    found = json.loads(out.with_suffix(".json").read_text())
    header = re.search(r"Written by (`[^`]*`) on ([0-9-]+ [0-9:]+ UTC)", out.read_text()) if out.is_file() else None
    sections = []
    for entry in found["sections"]:
        section = Section(**{**entry, "rows": [Row(**row) for row in entry["rows"]]})
        section.name = section.name or next((n for n, start in TITLE_STARTS.items() if section.title.startswith(start)), "")
        section.written = section.written or (f"{header.group(2)} by {header.group(1)}" if header else "")
        sections.append(section)
    return sections


def document(sections: list[Section], argv: list[str], total_s: float) -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    runs = sorted({s.written for s in sections if s.written})
    written = ("Sections come from several runs: " + "; ".join(
        f"{', '.join(s.name for s in sections if s.written == run)} on {run}" for run in runs) + ".\n\n") if len(runs) > 1 else ""
    head = (f"# v2f_bench benchmarks\n\nWritten by `{shown_command('python -m benchmarks', argv)}` on {stamp} in {total_s / 60:.1f} min.\n\n"
            + written
            + f"Machine: {machine_line()}.\n\nEvery ratio compares a path with a baseline measured in the same run "
            "(> 1 = better than the baseline). Wall times on a shared machine are upper bounds.\n\n")
    return head + summary_table(sections) + "\n" + "\n".join(section_markdown(s) for s in sections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small versions of every section (a smoke run)")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections (default: all of {','.join(SECTIONS)})")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="the Markdown file to write (default reports/benchmarks.md)")
    parser.add_argument("--families", default="vae,cgan,rcgan", help="the generator families the train section times (default vae,cgan,rcgan)")
    parser.add_argument("--work", type=Path, help="folder for data and runs (default: a temporary folder, removed afterwards)")
    parser.add_argument("--update", action="store_true", help="keep the sections of --out (its JSON) that this run does not measure")
    args = parser.parse_args(argv)
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        parser.error(f"--only {','.join(unknown)}: unknown section; choose from {','.join(SECTIONS)}")
    families = tuple(f.strip() for f in args.families.split(",") if f.strip())
    from v2f_bench.models.registry import FAMILIES

    strangers = sorted(set(families) - set(FAMILIES))
    if strangers or not families:
        parser.error(f"--families {args.families}: choose from {','.join(sorted(FAMILIES))}")
    if args.out.exists() and not args.out.is_file():
        parser.error(f"--out {args.out}: not a file")
    started = time.perf_counter()
    sections, shared = [], {"families": families}
    with tempfile.TemporaryDirectory() as tmp:
        work = args.work or Path(tmp)
        for name in [n for n in SECTIONS if n in names]:
            print(f"[benchmarks] {name} ...", file=sys.stderr, flush=True)
            began = time.perf_counter()
            try:
                sections.append(run_section(name, args.quick, work, shared))
                sections[-1].name = name
            except Exception as error:  # a failed section is reported, the suite goes on
                traceback.print_exc()
                sections.append(failed_section(name, error, time.perf_counter() - began))
                sections[-1].name = name
            print(f"[benchmarks] {name} done in {time.perf_counter() - began:.0f} s", file=sys.stderr, flush=True)
    stamp = f"{datetime.now(timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} by `{shown_command('python -m benchmarks', sys.argv[1:] if argv is None else argv)}`"
    for section in sections:
        section.written = stamp
    if args.update and args.out.with_suffix(".json").is_file():
        measured = {s.name for s in sections}
        kept = [s for s in earlier_sections(args.out) if s.name not in measured]
        sections = sorted(kept + sections, key=lambda s: SECTIONS.index(s.name) if s.name in SECTIONS else len(SECTIONS))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    texts = {args.out: document(sections, sys.argv[1:] if argv is None else argv, time.perf_counter() - started),
             args.out.with_suffix(".json"): json.dumps({"machine": machine_line(), "sections": [asdict(s) for s in sections]}, indent=1)}
    for path, text in texts.items():
        partial = path.with_name(path.name + ".partial")
        partial.write_text(text)
        partial.replace(path)
    print(f"wrote {args.out} and {args.out.with_suffix('.json').name} (the report shows the latter when it sits in its --out folder)")
    return 1 if any(s.title.endswith("(failed)") for s in sections) else 0


if __name__ == "__main__":
    sys.exit(main())
