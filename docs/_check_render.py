"""Look at the built site as a person would: headless Chromium opens three pages of it.

    python docs/_check_render.py [SITE_DIR] [SCREENSHOT_DIR]

The site is served over HTTP on 127.0.0.1 (an ephemeral port). For the home page, a guide and an
API reference page, Chromium's DOM must hold the page's H1 and Material's header and navigation
(with the site's sections), and its screenshot must not be blank: many colours, content beyond
the background, and the theme's coloured header at the top. Exit status 1 names what failed.
"""

from __future__ import annotations

import contextlib
import functools
import html.parser
import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1280,2000",
]
TIMEOUT = 90.0  # seconds for one Chromium run
NAV_SECTIONS = ("Getting started", "Guides", "API reference")
MIN_COLOURS = 32  # a rendered page has text, code and links; a blank or failed one a few


@dataclass(frozen=True)
class Page:
    path: str  # under the site's root
    h1: str  # what its title says
    shot: str  # the screenshot's file name


PAGES = (
    Page("index.html", "genrpc_actors", "home.png"),
    Page("guides/calls/index.html", "Calls", "guide-calls.png"),
    Page("reference/genrpc_actors/index.html", "genrpc_actors", "api-genrpc_actors.png"),
)


class _Dom(html.parser.HTMLParser):
    """The H1's text, the classes seen, and the primary navigation's text."""

    def __init__(self) -> None:
        super().__init__()
        self.h1: list[str] = []
        self.classes: set[str] = set()
        self.nav_text: list[str] = []
        self._in_h1 = 0
        self._nav_depth = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        classes = set((dict(attrs).get("class") or "").split())
        self.classes |= classes
        if tag == "h1":
            self._in_h1 += 1
        if tag == "nav" and ("md-nav--primary" in classes or self._nav_depth):
            self._nav_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1" and self._in_h1:
            self._in_h1 -= 1
        if tag == "nav" and self._nav_depth:
            self._nav_depth -= 1

    def handle_data(self, data: str) -> None:
        if self._in_h1:
            self.h1.append(data)
        if self._nav_depth:
            self.nav_text.append(data)


def dom_problems(dom: str, page: Page) -> list[str]:
    """What is missing from the DOM Chromium rendered for `page`."""
    parsed = _Dom()
    parsed.feed(dom)
    problems = []
    title = " ".join("".join(parsed.h1).replace("¶", "").split())
    if title != page.h1:
        problems.append(f"H1 is {title!r}, not {page.h1!r}")
    layout = ("md-header", "md-nav--primary", "md-content")
    problems += [
        f"no element of class {c} (Material's layout)" for c in layout if c not in parsed.classes
    ]
    nav = " ".join("".join(parsed.nav_text).split())
    problems += [f"the navigation lacks {s!r}" for s in NAV_SECTIONS if s not in nav]
    return problems


def image_problems(path: Path) -> list[str]:
    """Why the screenshot at `path` looks blank or unstyled, if it does."""
    if not path.is_file() or path.stat().st_size == 0:
        return [f"no screenshot at {path}"]
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    width, height = rgb.size
    raw = rgb.tobytes()
    pixels = list(zip(raw[0::3], raw[1::3], raw[2::3], strict=True))
    colours = Counter(pixels)
    problems = []
    if len(colours) < MIN_COLOURS:
        problems.append(f"only {len(colours)} colours")
    background, count = colours.most_common(1)[0]
    if count > 0.995 * len(pixels):
        problems.append(f"{count / len(pixels):.1%} of it is one colour {background}")
    # Material's header: the theme's primary colour (indigo) across the top, not white
    red, green, blue = Counter(pixels[width * 10 : width * 11]).most_common(1)[0][0]
    if not (blue > red + 40 and blue > green + 40):
        problems.append(f"the header is {(red, green, blue)}, not the theme's blue")
    if (width, height) != (1280, 2000):
        problems.append(f"{width}x{height}, not 1280x2000")
    return problems


@contextlib.contextmanager
def serving(site: Path) -> Iterator[str]:
    """The site over HTTP on 127.0.0.1, an ephemeral port; its base URL."""
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="docs-http", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def chromium(binary: str, *args: str) -> str:
    """Run headless Chromium with a fresh profile; its stdout. Its whole process group is ended
    (by its id) if it outlives TIMEOUT."""
    with tempfile.TemporaryDirectory(prefix="docs-chromium-") as profile:
        command = [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args]
        process = subprocess.Popen(  # noqa: S603 - our own arguments
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            start_new_session=True,
        )
        try:
            out, _ = process.communicate(timeout=TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        finally:
            with contextlib.suppress(ProcessLookupError):  # child processes it left behind
                os.killpg(process.pid, signal.SIGKILL)
        if process.returncode != 0:
            raise RuntimeError(f"{binary} exited with status {process.returncode}")
        return out


def check(site: Path, shots: Path, binary: str) -> list[str]:
    """Every problem found on the three pages, each prefixed with its page."""
    shots.mkdir(parents=True, exist_ok=True)
    problems = []
    with serving(site) as base:
        for page in PAGES:
            url = base + page.path
            dom = chromium(binary, "--dump-dom", url)
            shot = shots / page.shot
            shot.unlink(missing_ok=True)
            chromium(binary, f"--screenshot={shot}", url)
            found = dom_problems(dom, page) + image_problems(shot)
            problems += [f"{page.path}: {problem}" for problem in found]
            print(f"{page.path}: {'ok' if not found else 'FAILED'} ({shot})")
    return problems


def main(argv: list[str]) -> int:
    site = Path(argv[0] if argv else "site")
    shots = Path(argv[1] if len(argv) > 1 else "build/docs-screenshots")
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        print("no chromium: apt-get install chromium", file=sys.stderr)
        return 1
    if not (site / "index.html").is_file():
        print(f"no site in {site}: run mkdocs build first", file=sys.stderr)
        return 1
    problems = check(site, shots, binary)
    for problem in problems:
        print(f"render check: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
