"""The benchmark suite's results on the report page: read from benchmarks.json in the report folder."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest

from benchmarks.results import Row, Section as BenchSection
from v2f_bench.report.benchmarks import read_benchmarks
from v2f_bench.report.build import _benchmark_sections
from v2f_bench.report.html import render_page


def write_results(folder, sections):
    (folder / "benchmarks.json").write_text(json.dumps({"machine": "2 CPUs", "sections": [asdict(s) for s in sections]}))


def test_every_measured_row_and_each_goal_verdict_are_read(tmp_path):
    write_results(tmp_path, [
        BenchSection("Metrics", "m", [Row("loop", 1200.0, "images/s"), Row("batched", 4600.0, "images/s", 3.83)], goal=">= 3x", met=True),
        BenchSection("Training", "m", [Row("naive", 1.0, "steps/s"), Row("ours", 1.04, "steps/s", 1.04)], goal=">= 1.5x", met=False),
    ])
    table, lines = read_benchmarks(tmp_path)
    assert list(table["path"]) == ["loop", "batched", "naive", "ours"]
    assert list(table["x baseline"]) == ["baseline", "3.83", "baseline", "1.04"]
    assert lines == ["Machine: 2 CPUs", "Metrics: >= 3x: met", "Training: >= 1.5x: NOT met"]


def test_the_page_shows_the_benchmarks_when_present_and_nothing_when_absent(tmp_path):
    notes = []
    assert _benchmark_sections(tmp_path, notes) == [] and notes == []
    write_results(tmp_path, [BenchSection("Search", "m", [Row("optuna loop", 100.0, "s"), Row("ray tune", 60.0, "s", 1.67)], goal="eff", met=True)])
    page = render_page("r", _benchmark_sections(tmp_path, notes))
    assert "ray tune" in page and "1.67" in page and "Search: eff: met" in page


@pytest.mark.parametrize("content", ["{not json", json.dumps({"sections": [{"title": "x"}]}), json.dumps([1, 2])])
def test_a_damaged_results_file_is_noted_and_the_report_goes_on(tmp_path, content):
    (tmp_path / "benchmarks.json").write_text(content)
    notes = []
    assert _benchmark_sections(tmp_path, notes) == []
    assert len(notes) == 1 and "benchmarks.json: not the benchmark suite's results" in notes[0] and "benchmarks not shown" in notes[0]
