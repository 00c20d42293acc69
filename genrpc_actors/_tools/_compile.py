"""``python -m genrpc_actors._tools._compile``: compile the hot path with mypyc, in place.

The modules of ``genrpc_actors._compiled.COMPILED`` are compiled (mypyc, then the C compiler)
in a scratch copy of the package, and the extension modules are copied beside their sources,
where Python imports them in their place. ``make install`` runs it; ``--clean`` removes them
(the sources run again). Without mypyc or a C compiler it says so and exits 2 (the sources run
as they are); a compilation that fails exits 1 (``make`` stops: the hot path must compile).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from genrpc_actors._compiled import COMPILED

__all__ = ["build", "clean", "main"]

PACKAGE = Path(__file__).resolve().parent.parent
ROOT = PACKAGE.parent
SUFFIX = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
GROUP = "genrpc_actors._native"  # the one library the compiled modules share, in the package

# what mypyc's setuptools step runs, in the scratch copy (which has no pyproject.toml of its
# own: setuptools would read the project's and refuse what it does not know)
_SETUP = """
from setuptools import setup
from mypyc.build import mypycify

paths = {paths!r}
setup(
    name="genrpc-actors-native",
    packages=[],
    ext_modules=mypycify(paths, group_name={group!r}, opt_level="3"),
    script_args=["build_ext", "--inplace"],
)
"""


def built() -> list[Path]:
    """The extension modules in the package now."""
    return sorted(PACKAGE.rglob(f"*{SUFFIX}"))


def clean() -> int:
    """Remove every extension module from the package; how many there were."""
    found = built()
    for path in found:
        path.unlink()
    return len(found)


def build(*, verbose: bool = False) -> list[Path]:
    """Compile, and put the extension modules beside their sources; their paths."""
    with tempfile.TemporaryDirectory(prefix="genrpc-native-") as scratch:
        work = Path(scratch)
        skip = shutil.ignore_patterns("__pycache__", f"*{SUFFIX}")
        shutil.copytree(PACKAGE, work / PACKAGE.name, ignore=skip)
        shutil.copytree(ROOT / "supervision", work / "supervision", ignore=skip)  # for mypy
        shutil.copy(ROOT / "pyproject.toml", work / "mypy.toml")  # mypy's settings only
        paths = ["--config-file=mypy.toml"] + [
            str(Path(*name.split(".")).with_suffix(".py")) for name in COMPILED
        ]
        (work / "setup_native.py").write_text(_SETUP.format(paths=paths, group=GROUP))
        done = subprocess.run(
            [sys.executable, "setup_native.py"],
            cwd=work,
            capture_output=not verbose,
            text=True,
            check=False,
            env={**os.environ, "MYPY_FORCE_COLOR": "0"},
        )
        if done.returncode != 0:
            tail = (done.stdout or "")[-2000:] + (done.stderr or "")[-2000:]
            raise RuntimeError(f"mypyc could not compile the hot path:\n{tail}")
        made = sorted((work / PACKAGE.name).rglob(f"*{SUFFIX}"))
        clean()
        placed = []
        for path in made:
            target = PACKAGE / path.relative_to(work / PACKAGE.name)
            shutil.copy2(path, target)
            placed.append(target)
        return placed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m genrpc_actors._tools._compile")
    parser.add_argument("--clean", action="store_true", help="remove the compiled modules")
    parser.add_argument("--verbose", action="store_true", help="show mypyc's and gcc's output")
    args = parser.parse_args(argv)
    if args.clean:
        print(f"removed {clean()} compiled modules: the sources run")
        return 0
    missing = _missing()
    if missing:
        print(f"not compiled ({missing}): the pure-Python modules run", file=sys.stderr)
        return 2
    try:
        placed = build(verbose=args.verbose)
    except (RuntimeError, OSError) as exc:
        with contextlib.suppress(OSError):
            clean()
        print(f"{exc}\nthe pure-Python modules run instead", file=sys.stderr)
        return 1
    print(f"compiled {len(placed) - 1} modules with mypyc (GENRPC_PURE_PYTHON=1 runs the sources)")
    return 0


def _missing() -> str:
    """What compiling needs and this machine lacks, if anything."""
    if importlib.util.find_spec("mypyc") is None:
        return "mypyc is not installed: pip install -e '.[dev]'"
    compiler = sysconfig.get_config_var("CC") or "cc"
    if shutil.which(compiler.split()[0]) is None:
        return f"no C compiler ({compiler})"
    return ""


if __name__ == "__main__":
    sys.exit(main())
