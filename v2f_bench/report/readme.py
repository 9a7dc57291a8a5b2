"""Put a report's generated claims table into the README, between two markers.

Run as ``python -m v2f_bench.report.readme REPORT_DIR README.md``: the text between
``<!-- claims:start -->`` and ``<!-- claims:end -->`` in README.md is replaced with REPORT_DIR/claims.md
(written by ``v2f-bench report``), so the README's table is always the report's, never typed in.
"""

from __future__ import annotations

import sys
from pathlib import Path

from v2f_bench.errors import UserError

START, END = "<!-- claims:start -->", "<!-- claims:end -->"


def replace_claims(text: str, claims: str, where: str = "README") -> str:
    """``text`` with everything between the markers replaced by ``claims`` (the markers stay); UserError without them."""
    start, end = text.find(START), text.find(END)
    if start < 0 or end < start:
        raise UserError(f"{where}: no {START} ... {END} markers (in that order); add them where the claims table goes")
    return f"{text[:start + len(START)]}\n{claims.strip()}\n{text[end:]}"


def update_readme(report_dir: str | Path, readme: str | Path) -> Path:
    """Replace the claims section of ``readme`` with ``report_dir``/claims.md; one-line UserError when either is missing."""
    claims_md, readme = Path(report_dir) / "claims.md", Path(readme)
    if not claims_md.is_file():
        raise UserError(f"{claims_md}: no claims table; run `v2f-bench report` into {report_dir} first")
    if not readme.is_file():
        raise UserError(f"{readme}: no such file")
    readme.write_text(replace_claims(readme.read_text(encoding="utf-8"), claims_md.read_text(encoding="utf-8"), str(readme)), encoding="utf-8")
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
