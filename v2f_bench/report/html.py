"""One self-contained HTML page: headings, tables, figures embedded as data URIs, notes.

``write_page(out, title, sections)`` writes a single file that opens from disk with nothing else:
images are inlined as base64 ``data:`` URIs, the CSS is inline and short, and there are no scripts
and no external resources. Text (title, headings, notes, alt text) is HTML-escaped; a section's
``html`` is trusted markup from the report itself (tables from ``DataFrame.to_html`` or tabulate)
and goes in as is, except that markup loading anything from elsewhere (``<script>``, ``<link>``,
``<iframe>``, or a ``src``/``href``/``url()`` pointing to http(s) or ``//``) is refused, so the
page stays self-contained.
"""

from __future__ import annotations

import base64
import html as _html
import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Section", "write_page", "render_page", "data_uri"]

_MIME = {
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".gif": "image/gif",
    ".webp": "image/webp",
    ".svg": "image/svg+xml",
}

_EXTERNAL = re.compile(
    r"<\s*(script|link|iframe|object|embed|base)\b"
    r"|\b(src|href|srcset|action|poster|data)\s*=\s*[\"']?\s*(https?:|//|ftp:)"
    r"|url\(\s*[\"']?\s*(https?:|//)"
    r"|@import",
    re.IGNORECASE,
)

_CSS = """
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:2em auto;max-width:1200px;
padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.7em;border-bottom:2px solid #ddd;padding-bottom:.3em}
h2{font-size:1.3em;margin-top:2em;border-bottom:1px solid #eee;padding-bottom:.2em}
nav ul{columns:2;padding-left:1.2em}
.table-wrap{overflow-x:auto;margin:1em 0}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #ccc;padding:.3em .6em;text-align:right}
th{background:#f3f3f3}
tr:nth-child(even) td{background:#fafafa}
figure{margin:1em 0}
figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}
p.note{color:#444;background:#f7f7f2;border-left:3px solid #cc9;padding:.5em .8em}
footer{margin-top:3em;font-size:.8em;color:#777}
""".strip()


@dataclass
class Section:
    """One part of the page: a heading, trusted HTML (tables), figures to embed, and a plain-text note."""

    heading: str
    html: str = ""
    images: list[Path] = field(default_factory=list)
    note: str = ""


def data_uri(path: Path) -> str:
    """``data:<mime>;base64,...`` of an image file (png, jpg, gif, webp, svg)."""
    path = Path(path)
    mime = _MIME.get(path.suffix.lower())
    if mime is None:
        raise ValueError(f"{path}: cannot embed a {path.suffix or 'suffix-less'} file; use one of {sorted(_MIME)}")
    try:
        payload = path.read_bytes()
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: image for the report page does not exist") from None
    if not payload:
        raise ValueError(f"{path}: image for the report page is empty")
    return f"data:{mime};base64,{base64.b64encode(payload).decode('ascii')}"


def _slug(text: str, used: set[str]) -> str:
    base = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "section"
    slug, k = base, 2
    while slug in used:
        slug, k = f"{base}-{k}", k + 1
    used.add(slug)
    return slug


def _check_markup(markup: str, heading: str) -> None:
    match = _EXTERNAL.search(markup)
    if match:
        raise ValueError(f"section {heading!r}: its html loads something from outside the page ({match.group(0)!r}); the report page must be self-contained")


def _note_html(note: str) -> str:
    paragraphs = [p.strip() for p in re.split(r"\n\s*\n", note) if p.strip()]
    return "".join(f'<p class="note">{_html.escape(p).replace(chr(10), "<br>")}</p>\n' for p in paragraphs)


def render_page(title: str, sections: list[Section], footer: str = "") -> str:
    """The page's HTML text (``write_page`` writes it). Images are read and embedded here."""
    esc = _html.escape
    used: set[str] = set()
    slugs = [_slug(s.heading, used) for s in sections]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{esc(title)}</title>",
        f"<style>\n{_CSS}\n</style>",
        "</head>",
        "<body>",
        f"<h1>{esc(title)}</h1>",
    ]
    if len(sections) > 1:
        parts.append("<nav><ul>")
        parts += [f'<li><a href="#{slug}">{esc(s.heading)}</a></li>' for s, slug in zip(sections, slugs)]
        parts.append("</ul></nav>")
    for section, slug in zip(sections, slugs):
        parts.append(f'<section id="{slug}">')
        parts.append(f"<h2>{esc(section.heading)}</h2>")
        if section.note:
            parts.append(_note_html(section.note))
        if section.html:
            _check_markup(section.html, section.heading)
            parts.append(f'<div class="table-wrap">\n{section.html}\n</div>')
        for image in section.images:
            image = Path(image)
            alt = esc(image.stem.replace("_", " "), quote=True)
            parts.append(f'<figure><img src="{data_uri(image)}" alt="{alt}"><figcaption>{esc(image.name)}</figcaption></figure>')
        parts.append("</section>")
    if footer:
        parts.append(f"<footer>{esc(footer)}</footer>")
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)


def write_page(out: Path, title: str, sections: list[Section], footer: str = "") -> Path:
    """Write the self-contained page to ``out`` (atomically: a half-written page is never left behind)."""
    out = Path(out)
    text = render_page(title, sections, footer)
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; the page is meant to be shared
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return out
