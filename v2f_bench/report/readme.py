"""Put a report's generated tables into the README, between markers, so they are never typed in.

Run as ``python -m v2f_bench.report.readme REPORT_DIR README.md``. For every block ``NAME`` in
``BLOCKS`` the text between ``<!-- NAME:start -->`` and ``<!-- NAME:end -->`` in README.md is
replaced with REPORT_DIR/NAME.md (written by ``v2f-bench report``), and for ``<!-- SUB/NAME:start -->`` with
REPORT_DIR/SUB/NAME.md (a report kept in a folder of REPORT_DIR). The claims block must be there; the other blocks are
replaced where the README has their markers. ``tests/report/test_readme.py``
checks that the committed README holds the committed report's blocks.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from v2f_bench.errors import UserError

BLOCKS = ("claims", "answer", "table1", "table2", "table_identity", "table_distribution", "compute", "paired", "ladder")
"""Report Markdown files (``<name>.md``) the README may carry; ``claims`` is required. A block of a report kept in a
folder of REPORT_DIR (``reports/diffusion/``) is named with the folder: ``<!-- diffusion/table1:start -->``."""

_NAMED = re.compile(r"<!-- ((?:[\w.-]+/)?(" + "|".join(BLOCKS) + r")):start -->")


def blocks_in(text: str) -> list[str]:
    """Every block the text has markers for, in order: ``table1`` or, for a report in a folder, ``diffusion/table1``."""
    return [match.group(1) for match in _NAMED.finditer(text) if has_block(text, match.group(1))]


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


START, END = markers("claims")


def has_block(text: str, name: str) -> bool:
    start, end = markers(name)
    return -1 < text.find(start) < text.find(end)


def replace_block(text: str, content: str, name: str = "claims", where: str = "README") -> str:
    """``text`` with everything between ``name``'s markers replaced by ``content`` (the markers stay); UserError without them."""
    start_marker, end_marker = markers(name)
    start, end = text.find(start_marker), text.find(end_marker)
    if start < 0 or end < start:
        raise UserError(f"{where}: no {start_marker} ... {end_marker} markers (in that order); add them where the {name} table goes")
    return f"{text[:start + len(start_marker)]}\n{content.strip()}\n{text[end:]}"


def replace_claims(text: str, claims: str, where: str = "README") -> str:
    return replace_block(text, claims, "claims", where)


def update_readme(report_dir: str | Path, readme: str | Path) -> Path:
    """Replace the claims block, and every other block with markers, of ``readme`` with the report's files."""
    report_dir, readme = Path(report_dir), Path(readme)
    if not (report_dir / "claims.md").is_file():
        raise UserError(f"{report_dir / 'claims.md'}: no claims table; run `v2f-bench report` into {report_dir} first")
    if not readme.is_file():
        raise UserError(f"{readme}: no such file")
    text = readme.read_text(encoding="utf-8")
    for name in dict.fromkeys(["claims", *blocks_in(text)]):
        source = report_dir / f"{name}.md"
        if not source.is_file():
            raise UserError(f"{source}: the README has a {name} block but the report has no {name}.md; regenerate the report")
        text = replace_block(text, source.read_text(encoding="utf-8"), name, str(readme))
    readme.write_text(text, encoding="utf-8")
    return readme


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print("usage: python -m v2f_bench.report.readme REPORT_DIR README.md", file=sys.stderr)
        return 2
    try:
        print(f"updated {update_readme(*args)}")
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
