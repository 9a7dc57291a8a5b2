"""The README's claims section is replaced by the report's claims.md, between its markers only."""

from __future__ import annotations

import pytest

from v2f_bench.errors import UserError
from v2f_bench.report.readme import END, START, main, replace_claims


def test_only_the_text_between_the_markers_changes(tmp_path):
    report = tmp_path / "report"
    report.mkdir()
    (report / "claims.md").write_text("| claim | verdict |\n|---|---|\n| x | **reproduced** |\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# Title\n\nbefore\n{START}\nold table\n{END}\nafter\n")
    assert main([str(report), str(readme)]) == 0
    text = readme.read_text()
    assert text == f"# Title\n\nbefore\n{START}\n| claim | verdict |\n|---|---|\n| x | **reproduced** |\n{END}\nafter\n"
    assert main([str(report), str(readme)]) == 0 and readme.read_text() == text, "running it twice changes nothing"


@pytest.mark.parametrize(
    "text", [pytest.param("no markers\n", id="none"), pytest.param(f"{END}\n{START}\n", id="wrong-order"), pytest.param(f"{START} only\n", id="no-end")]
)
def test_missing_markers_are_a_one_line_error(text):
    with pytest.raises(UserError, match="no <!-- claims:start --> ... <!-- claims:end --> markers") as info:
        replace_claims(text, "table")
    assert "\n" not in str(info.value)


def test_the_entry_point_reports_errors_in_one_line(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("no markers\n")
    assert main([str(tmp_path), str(readme)]) == 1
    assert capsys.readouterr().err.strip().count("\n") == 0
    (tmp_path / "claims.md").write_text("t\n")
    assert main([str(tmp_path), str(readme)]) == 1
    assert "markers" in capsys.readouterr().err and readme.read_text() == "no markers\n"


def test_the_committed_readme_carries_the_committed_reports_blocks():
    """The README's results are the committed report's, copied by the entry point, never typed in."""
    from pathlib import Path

    from v2f_bench.report.readme import blocks_in, has_block, markers

    root = Path(__file__).resolve().parents[2]
    readme = (root / "README.md").read_text(encoding="utf-8")
    assert has_block(readme, "claims")
    for name in blocks_in(readme):
        start, end = markers(name)
        shown = readme[readme.index(start) + len(start):readme.index(end)].strip()
        assert shown == (root / "reports" / f"{name}.md").read_text(encoding="utf-8").strip(), f"README's {name} block is not reports/{name}.md"


def test_a_block_of_a_report_in_a_folder_is_copied_from_that_folder(tmp_path):
    report = tmp_path / "report"
    (report / "diffusion").mkdir(parents=True)
    (report / "claims.md").write_text("claims\n")
    (report / "diffusion" / "table1.md").write_text("| family |\n|---|\n| diffusion |\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"{START}\n{END}\n<!-- diffusion/table1:start -->\nold\n<!-- diffusion/table1:end -->\n")
    assert main([str(report), str(readme)]) == 0
    assert "| diffusion |" in readme.read_text() and "old" not in readme.read_text()
