"""Check the report page in a real headless browser (Debian's chromium).

* ``screenshot(page, out_png)`` - open the page from disk (``file://``) and save a PNG of the window;
* ``rendered_dom(page)`` - the DOM after the page loaded (``--dump-dom``);
* ``dom_counts(dom)`` / ``image_std(png)`` - what a check looks at: how many tables and images with a
  non-empty ``src`` the DOM has, and whether the screenshot is more than one flat colour;
* ``check_page(page, out_png)`` - all of the above, raising ``UserError`` naming what did not render.

Chromium runs with a fresh temporary profile, no network features (``--disable-background-networking``
and friends), ``--no-sandbox`` (CI containers run as root) and a timeout; its whole process group is
killed when the timeout passes. ``find_chromium`` looks for ``/usr/bin/chromium``, then ``chromium``
or ``chromium-browser`` on PATH, and raises ``UserError`` saying how to install it.
"""

from __future__ import annotations

import base64
import binascii
import io
import os
import shutil
import signal
import subprocess
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import numpy as np

from v2f_bench.errors import UserError

__all__ = [
    "FLAGS",
    "find_chromium",
    "screenshot",
    "rendered_dom",
    "dom_counts",
    "image_std",
    "check_page",
]

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)
"""Flags of every chromium run (the profile directory, window size and action are added per call)."""

DEFAULT_TIMEOUT_S = 90.0


def find_chromium(executable: str | os.PathLike | None = None) -> str:
    """The chromium executable: ``executable`` if given, else /usr/bin/chromium, else chromium on PATH."""
    if executable is not None:
        path = shutil.which(str(executable))
        if path is None:
            raise UserError(f"chromium executable {executable} does not exist or is not executable")
        return path
    if os.access("/usr/bin/chromium", os.X_OK):
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    raise UserError("chromium is not installed (looked for /usr/bin/chromium and chromium on PATH); "
                    "install it with `apt-get install -y chromium` (Debian) to check the report page in a browser")


def _page_url(page) -> str:
    page = Path(page)
    if not page.is_file():
        raise UserError(f"{page}: no such page to open in the browser")
    return page.resolve().as_uri()


def _run(args: list[str], timeout: float, what: str) -> subprocess.CompletedProcess:
    """Run chromium with a fresh profile; kill its whole process group on timeout or when done."""
    with tempfile.TemporaryDirectory(prefix="v2f-chromium-", ignore_cleanup_errors=True) as profile:
        cmd = [args[0], *FLAGS, f"--user-data-dir={profile}", *args[1:]]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
                                start_new_session=True, env={**os.environ, "HOME": profile})
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc.pid)
            proc.communicate()
            raise UserError(f"chromium did not finish {what} within {timeout:g} s; is the page very large, or chromium stuck?") from None
        finally:
            _kill_group(proc.pid)  # helpers (zygote, crashpad) that outlived the browser
    return subprocess.CompletedProcess(cmd, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _tail(text: str, lines: int = 8) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(kept) or "(no output)"


def screenshot(page: Path, out_png: Path, width: int = 1280, height: int = 2400,
               timeout: float = DEFAULT_TIMEOUT_S, chromium: str | None = None) -> Path:
    """Open ``page`` from disk in headless chromium and save a ``width`` x ``height`` PNG of the window to ``out_png``."""
    url = _page_url(page)
    exe = find_chromium(chromium)
    out_png = Path(out_png).resolve()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    out_png.unlink(missing_ok=True)  # never mistake an old screenshot for this one
    result = _run([exe, f"--screenshot={out_png}", f"--window-size={int(width)},{int(height)}", url], timeout, "the screenshot")
    if not out_png.is_file() or out_png.stat().st_size == 0:
        raise UserError(f"chromium wrote no screenshot of {page} (exit {result.returncode}): {_tail(result.stderr)}")
    return out_png


def rendered_dom(page: Path, timeout: float = DEFAULT_TIMEOUT_S, chromium: str | None = None) -> str:
    """The DOM of ``page`` after headless chromium loaded it (``--dump-dom``), as HTML text."""
    url = _page_url(page)
    exe = find_chromium(chromium)
    result = _run([exe, "--dump-dom", url], timeout, "loading the page")
    if result.returncode != 0 or "<html" not in result.stdout.lower():
        raise UserError(f"chromium could not render {page} (exit {result.returncode}): {_tail(result.stderr)}")
    return result.stdout


class _Counter(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables = 0
        self.images: list[str] = []
        self.empty_images = 0

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables += 1
        elif tag == "img":
            src = (dict(attrs).get("src") or "").strip()
            if src:
                self.images.append(src)
            else:
                self.empty_images += 1

    handle_startendtag = handle_starttag


def dom_counts(dom: str) -> dict:
    """``tables``, ``images`` (with a non-empty src), ``data_images`` (src is a data: URI),
    ``empty_images`` (no src) and ``external`` (srcs that are not data: URIs) of an HTML text."""
    counter = _Counter()
    counter.feed(dom)
    counter.close()
    data = [s for s in counter.images if s.lower().startswith("data:")]
    return {
        "tables": counter.tables,
        "images": len(counter.images),
        "data_images": len(data),
        "empty_images": counter.empty_images,
        "external": [s[:80] for s in counter.images if not s.lower().startswith("data:")],
        "srcs": counter.images,
    }


def image_std(png: Path) -> float:
    """Standard deviation of the grey levels (0-255) of an image: about 0 for a blank screenshot."""
    from PIL import Image

    with Image.open(png) as img:
        return float(np.asarray(img.convert("L"), dtype=np.float64).std())


def _decodes(src: str) -> bool:
    """Whether a data: URI holds an image PIL can read."""
    from PIL import Image

    head, _, payload = src.partition(",")
    if ";base64" not in head.lower() or "svg" in head.lower():
        return bool(payload)
    try:
        raw = base64.b64decode(payload, validate=True)
        with Image.open(io.BytesIO(raw)) as img:
            img.verify()
        return True
    except (binascii.Error, ValueError, OSError):
        return False


def check_page(page: Path, out_png: Path, min_tables: int = 1, min_images: int = 1, min_std: float = 5.0,
               width: int = 1280, height: int = 2400, timeout: float = DEFAULT_TIMEOUT_S,
               chromium: str | None = None) -> dict:
    """Render ``page`` in headless chromium and check that its tables and images rendered.

    Passes when the rendered DOM has at least ``min_tables`` tables and ``min_images`` images, every
    image has a non-empty src that is a data: URI decoding to a valid image, and the screenshot
    (saved to ``out_png``) has a grey-level standard deviation above ``min_std`` (not blank).
    Returns ``tables``, ``images``, ``std`` and ``screenshot``; raises ``UserError`` listing every failure.
    """
    counts = dom_counts(rendered_dom(page, timeout, chromium))
    shot = screenshot(page, out_png, width, height, timeout, chromium)
    std = image_std(shot)
    problems = []
    if counts["tables"] < min_tables:
        problems.append(f"{counts['tables']} table(s) rendered, expected at least {min_tables}")
    if counts["images"] < min_images:
        problems.append(f"{counts['images']} image(s) with a src rendered, expected at least {min_images}")
    if counts["empty_images"]:
        problems.append(f"{counts['empty_images']} image(s) without a src")
    if counts["external"]:
        problems.append(f"image(s) not embedded in the page: {counts['external']}")
    broken = sum(not _decodes(s) for s in counts["srcs"] if s.lower().startswith("data:"))
    if broken:
        problems.append(f"{broken} embedded image(s) do not decode")
    if not std > min_std:
        problems.append(f"the screenshot {shot} looks blank (grey-level std {std:.2f} <= {min_std:g})")
    if problems:
        raise UserError(f"{page} did not render as expected: " + "; ".join(problems))
    return {"tables": counts["tables"], "images": counts["images"], "std": std, "screenshot": shot}
