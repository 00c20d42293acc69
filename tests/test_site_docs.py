"""The documentation site's examples run as written, and the site builds without a warning.

Every ```python block under docs/ runs in this process and, as a user runs it, as a script of its
own in a fresh interpreter; each `print(...)  # expected` line must print what its comment says,
in order. Every ```toml block is a configuration that loads. `mkdocs build --strict` must pass.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from genrpc_actors import Config

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>\w*)\n(?P<body>.*?)^(?P=indent)```", re.M | re.S)
EXPECTED = re.compile(r"^[ \t]*print\(.*\)[ \t]+#[ \t]+(.*?)[ \t]*$", flags=re.MULTILINE)


def fenced(lang: str) -> list[tuple[str, str]]:
    """(page:line, code) of every block of `lang` in the site's sources."""
    found = []
    for page in sorted(DOCS.rglob("*.md")):
        text = page.read_text()
        for match in FENCE.finditer(text):
            if match["lang"] == lang:
                line = text.count("\n", 0, match.start()) + 1
                code = textwrap.dedent(match["body"])
                found.append((f"{page.relative_to(DOCS)}:{line}", code))
    return found


PYTHON = fenced("python")
TOML = fenced("toml")


def expectations(code: str) -> list[str]:
    """What the block's `print(...)  # expected` comments say it prints, in order."""
    return EXPECTED.findall(code)


def assert_printed(code: str, printed: str) -> None:
    lines = printed.splitlines()
    at = 0
    for expected in expectations(code):
        while at < len(lines) and expected not in lines[at]:
            at += 1
        assert at < len(lines), f"{expected!r} not printed (in order) by the block; got:\n{printed}"
        at += 1


def with_etcd(code: str, request: pytest.FixtureRequest) -> str:
    if "EtcdSource(" in code:  # the example's etcd is the one this suite runs
        return code.replace("http://127.0.0.1:2379", request.getfixturevalue("etcd_url"))
    return code


def test_the_site_has_examples_in_its_guides():
    pages = {where.split(":")[0] for where, _ in PYTHON}
    assert len(PYTHON) >= 10
    assert {"getting-started.md", "guides/calls.md", "guides/supervision.md"} <= pages


@pytest.mark.parametrize(("where", "code"), PYTHON, ids=[w for w, _ in PYTHON])
def test_python_blocks_run(where, code, capsys, request):
    code = with_etcd(code, request)
    exec(compile(code, str(DOCS / where.split(":")[0]), "exec"), {"__name__": "docs"})
    assert_printed(code, capsys.readouterr().out)


@pytest.mark.parametrize(("where", "code"), PYTHON, ids=[w for w, _ in PYTHON])
def test_python_blocks_run_as_scripts(where, code, tmp_path, request):
    code = with_etcd(code, request)
    script = tmp_path / "example.py"  # no __main__ guard, as on the page
    script.write_text(code)
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert_printed(code, done.stdout)


@pytest.mark.parametrize(("where", "text"), TOML, ids=[w for w, _ in TOML])
def test_toml_blocks_are_valid_configurations(where, text, tmp_path):
    path = tmp_path / "genrpc.toml"
    path.write_text(text)
    config = Config.from_file(path, environ={})
    assert config.keys()


def test_an_expectation_that_is_not_printed_fails():
    code = 'print("a")  # a\nprint("b")  # c\n'
    with pytest.raises(AssertionError):
        assert_printed(code, "a\nb\n")
    with pytest.raises(AssertionError):  # order counts
        assert_printed('print("b")  # b\nprint("a")  # a\n', "a\nb\n")
    assert_printed(code.replace("# c", "# b"), "a\nb\n")


@pytest.mark.slow
@pytest.mark.timeout(300)  # a build of the whole site, API pages included, on a busy machine
def test_the_site_builds_strictly_without_a_warning(tmp_path):
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "WARNING" not in done.stderr, done.stderr
    site = tmp_path / "site"
    assert (site / "index.html").is_file()
    assert (site / "assets" / "bench-pinned.png").is_file()
    api = (site / "reference" / "genrpc_actors" / "index.html").read_text()
    assert 'id="genrpc_actors.call"' in api  # the reference is generated from the docstrings
    # of the sources, also where the compiled hot path is built (inspected, a compiled class
    # shows only "Initialize self. See help(type(self))...")
    assert "What <code>async_call</code> returns." in api
    assert "Initialize self" not in api
    changelog = (site / "changelog" / "index.html").read_text()
    assert "Unreleased" in changelog


def _tool(name: str):
    spec = importlib.util.spec_from_file_location(name, DOCS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_the_docstrings_reader_turns_roles_and_sessions_into_markdown():
    reader = _tool("_docstrings")
    text = "Raises :class:`NoNodeError`.\n\n>>> 1 + 1\n2\n\nAfter::\n\n    code\n"
    assert reader.markdown_of(text).splitlines() == [
        "Raises `NoNodeError`.",
        "",
        "```pycon",
        ">>> 1 + 1",
        "2",
        "```",
        "",
        "After:",
        "",
        "    code",
    ]


def test_the_render_check_fails_a_blank_or_unstyled_page(tmp_path):
    from PIL import Image

    check = _tool("_check_render")
    page = check.Page("index.html", "genrpc_actors", "home.png")
    blank = tmp_path / "blank.png"
    Image.new("RGB", (1280, 2000), "white").save(blank)
    assert check.image_problems(blank)
    assert check.image_problems(tmp_path / "missing.png")
    assert check.dom_problems("<html><body><h1>Oops</h1></body></html>", page)
    nav = "".join(f"<a>{s}</a>" for s in check.NAV_SECTIONS)
    dom = (
        '<div class="md-header"></div><nav class="md-nav md-nav--primary">'
        f'{nav}</nav><div class="md-content"><h1>genrpc_actors<a>¶</a></h1></div>'
    )
    assert check.dom_problems(dom, page) == []
    assert check.dom_problems(dom.replace("API reference", "API"), page)


@pytest.mark.slow
@pytest.mark.timeout(300)  # a build, and Chromium opening three pages twice, on a busy machine
@pytest.mark.skipif(shutil.which("chromium") is None, reason="make docs installs chromium")
def test_the_built_site_renders_in_chromium(tmp_path):
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        timeout=300,
        check=True,
    )
    done = subprocess.run(
        [sys.executable, str(DOCS / "_check_render.py"), str(site), str(tmp_path / "shots")],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert sorted(p.name for p in (tmp_path / "shots").iterdir()) == [
        "api-genrpc_actors.png",
        "guide-calls.png",
        "home.png",
    ]
