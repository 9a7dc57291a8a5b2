"""The report page: self-contained HTML, escaped text, and a real headless-browser check (chromium)."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from v2f_bench.errors import UserError
from v2f_bench.report import browser
from v2f_bench.report.browser import check_page, dom_counts, find_chromium, image_std, rendered_dom, screenshot
from v2f_bench.report.html import Section, data_uri, write_page


def chromium_or_skip() -> str:
    try:
        return find_chromium()
    except UserError as exc:
        pytest.skip(f"headless-browser check needs chromium: {exc}")


@pytest.fixture
def png(tmp_path) -> Path:
    """A small, clearly non-blank PNG (a red/blue gradient)."""
    ramp = np.linspace(0, 255, 160, dtype=np.uint8)
    img = np.zeros((120, 160, 3), dtype=np.uint8)
    img[..., 0] = ramp[None, :]
    img[..., 2] = 255 - ramp[None, :]
    path = tmp_path / "figure_one.png"
    Image.fromarray(img).save(path)
    return path


@pytest.fixture
def table_html() -> str:
    frame = pd.DataFrame({"family": ["vae", "cgan", "rcgan"], "accuracy": [0.61, 0.72, 0.78], "paper": [0.60, 0.70, 0.80]})
    return frame.to_html(index=False)


def make_page(tmp_path, png, table_html, name="page.html") -> Path:
    sections = [
        Section("Table I: identity accuracy <per family>", html=table_html, note="Best trial on validation & reported on test.\n\n<script>alert(1)</script>"),
        Section("Figures", images=[png]),
        Section("Figures", note="A second section with the same heading."),
    ]
    return write_page(tmp_path / name, 'Report "v2f" <draft> & notes', sections)


# --------------------------------------------------------------------------- the page itself


def test_page_is_self_contained(tmp_path, png, table_html):
    page = make_page(tmp_path, png, table_html)
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert not re.search(r"https?://", text), "the page refers to the network"
    assert "<script" not in text.lower() and "<link" not in text.lower()
    srcs = re.findall(r'<img[^>]*\ssrc="([^"]*)"', text)
    assert len(srcs) == 1
    assert srcs[0].startswith("data:image/png;base64,")
    assert base64.b64decode(srcs[0].split(",", 1)[1]) == png.read_bytes()
    assert srcs[0] == data_uri(png)
    assert text.count("<table") == 1
    assert [p for p in tmp_path.iterdir() if p.name.startswith(".")] == [], "temporary file left behind"


def test_page_escapes_text(tmp_path, png, table_html):
    text = make_page(tmp_path, png, table_html).read_text(encoding="utf-8")
    assert "<title>Report &quot;v2f&quot; &lt;draft&gt; &amp; notes</title>" in text
    assert "Table I: identity accuracy &lt;per family&gt;" in text
    assert "validation &amp; reported" in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<draft>" not in text and "<per family>" not in text
    # duplicate headings still get distinct anchors
    ids = re.findall(r'<section id="([^"]+)"', text)
    assert len(ids) == 3 and len(set(ids)) == 3


@pytest.mark.parametrize(
    "markup",
    [
        '<img src="https://example.org/x.png">',
        "<script>1</script>",
        '<link rel="stylesheet" href="style.css">',
        '<a href="//cdn.example.org/x">x</a>',
        '<div style="background:url(http://example.org/x.png)"></div>',
    ],
)
def test_page_refuses_markup_that_loads_from_outside(tmp_path, markup):
    with pytest.raises(ValueError, match="self-contained"):
        write_page(tmp_path / "p.html", "t", [Section("bad", html=markup)])
    assert not (tmp_path / "p.html").exists()


def test_page_allows_urls_as_text(tmp_path):
    text = write_page(tmp_path / "p.html", "t", [Section("runs", html="<table><tr><td>gs://bucket/run</td></tr></table>")]).read_text()
    assert "gs://bucket/run" in text


def test_missing_or_unsupported_image_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        write_page(tmp_path / "p.html", "t", [Section("s", images=[tmp_path / "nope.png"])])
    (tmp_path / "x.bmp").write_bytes(b"BM")
    with pytest.raises(ValueError, match="bmp"):
        write_page(tmp_path / "p.html", "t", [Section("s", images=[tmp_path / "x.bmp"])])


def test_dom_counts_and_image_std(tmp_path, png):
    counts = dom_counts('<table></table><img src="data:image/png;base64,AAAA"><img src=""><img src="x.png"><table>')
    assert counts["tables"] == 2 and counts["images"] == 2 and counts["data_images"] == 1
    assert counts["empty_images"] == 1 and counts["external"] == ["x.png"]
    blank = tmp_path / "blank.png"
    Image.new("RGB", (50, 50), "white").save(blank)
    assert image_std(blank) == 0.0
    assert image_std(png) > 5.0


# --------------------------------------------------------------------------- chromium


def test_missing_chromium_is_a_user_error(monkeypatch, tmp_path, png, table_html):
    monkeypatch.setattr(browser.os, "access", lambda *a, **k: False)
    monkeypatch.setattr(browser.shutil, "which", lambda *a, **k: None)
    with pytest.raises(UserError, match="apt-get install -y chromium"):
        find_chromium()
    page = make_page(tmp_path, png, table_html)
    with pytest.raises(UserError, match="chromium is not installed"):
        screenshot(page, tmp_path / "shot.png")


def test_missing_page_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="no such page"):
        rendered_dom(tmp_path / "absent.html")


@pytest.mark.slow
def test_page_renders_in_headless_chromium(tmp_path, png, table_html):
    chromium_or_skip()
    page = make_page(tmp_path, png, table_html)
    dom = rendered_dom(page)
    counts = dom_counts(dom)
    assert counts["tables"] == 1 and counts["images"] == 1 and counts["data_images"] == 1
    assert "rcgan" in dom and "0.78" in dom
    shot = screenshot(page, tmp_path / "shot.png", width=800, height=900)
    with Image.open(shot) as img:
        assert img.size == (800, 900)
    assert image_std(shot) > 5.0
    result = check_page(page, tmp_path / "check.png", width=800, height=900)
    assert result["tables"] == 1 and result["images"] == 1 and result["std"] > 5.0


@pytest.mark.slow
def test_check_page_reports_what_did_not_render(tmp_path):
    chromium_or_skip()
    page = write_page(tmp_path / "empty.html", "Nothing here", [Section("No tables", note="just text")])
    with pytest.raises(UserError, match=r"0 table\(s\) rendered.*0 image\(s\)"):
        check_page(page, tmp_path / "shot.png", width=600, height=400)
