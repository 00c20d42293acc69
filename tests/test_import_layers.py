"""Imports point one way: down ARCHITECTURE.md's layer table, and no two modules import each other.

Every ``import`` and ``from ... import`` of both packages is read with ``ast`` (at any depth:
under ``if TYPE_CHECKING:`` and inside functions too, since a cycle hidden there is still a
cycle). A module of one unit may import a module of another unit only if that unit's rank is
lower; within a unit, imports may go either way but never round in a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# (unit, rank): a unit is a module or a package and everything under it; the longest match wins.
GENRPC_LAYERS: dict[str, int] = {
    "genrpc_actors._errors": 0,  # the exception tree, under everything
    "genrpc_actors._compiled": 0,  # which modules run compiled (imports nothing of ours)
    "genrpc_actors._config": 1,
    "genrpc_actors._protocol": 2,  # wire: sans-IO framing, handshake, messages
    "genrpc_actors._transport": 3,  # drivers: tcp, tls, reader, outbox, handshake driver
    "genrpc_actors._execution": 3,  # execution: running a request, the thread pool, timers
    "genrpc_actors._client": 4,  # the two ends of a connection (the actors layer's machinery)
    "genrpc_actors._server": 4,
    "genrpc_actors._actors": 5,  # listener, acceptor, client, dispatcher
    "genrpc_actors._node": 6,  # node & API
    # observability: metrics over the node's counters, plugged into the node layer by the
    # public surface (so that every node of the process can serve them)
    "genrpc_actors._observability": 7,
    "genrpc_actors": 8,  # the public surface
    "genrpc_actors.discovery": 8,
    "genrpc_actors.introspection": 9,  # observability: what `genrpc stats` fetches
    "genrpc_actors.testing": 10,  # tools: the testing kit (local clusters), then what uses it
    "genrpc_actors._tools": 11,  # the CLI, the demo, the shells' setup, certificates
    "genrpc_actors.__main__": 12,
}
SUPERVISION_ORDER = [  # lowest first; each module imports only modules before it
    "supervision._errors",
    "supervision._signals",
    "supervision._policy",
    "supervision._spec",
    "supervision._lifecycle",
    "supervision._foreign",
    "supervision._actor",
    "supervision._links",
    "supervision._messages",
    "supervision._operations",
    "supervision._supervisor",
    "supervision._handle",
    "supervision",
    "supervision.testing",
]
# supervision sits under all of genrpc_actors (and never imports it)
LAYERS = {**GENRPC_LAYERS, **{name: i - 100 for i, name in enumerate(SUPERVISION_ORDER)}}
PACKAGES = ("genrpc_actors", "supervision")


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name to file, for every module of ``packages`` under ``root``."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ours that ``name`` imports, wherever the import statement stands."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                targets.add(sub if sub in modules else base)
    return {t for t in targets if t in modules and t != name}


def unit_of(name: str, layers: dict[str, int]) -> str:
    matches = [u for u in layers if name == u or name.startswith(u + ".")]
    if not matches:
        raise AssertionError(f"{name} is in no layer: add it to the layer table")
    return max(matches, key=len)


def violations(root: Path, packages: tuple[str, ...], layers: dict[str, int]) -> list[str]:
    """Every import that points up or sideways, and every cycle, as readable lines."""
    modules = module_files(root, packages)
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    found = []
    for name, targets in sorted(graph.items()):
        unit = unit_of(name, layers)
        for target in sorted(targets):
            other = unit_of(target, layers)
            if other != unit and layers[other] >= layers[unit]:
                found.append(
                    f"{name} (rank {layers[unit]}) imports {target} (rank {layers[other]})"
                )
    found.extend(f"cycle: {' -> '.join(cycle)}" for cycle in cycles(graph))
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                result.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return result


def test_imports_point_down_the_layers_and_never_round():
    assert violations(ROOT, PACKAGES, LAYERS) == []


def test_supervision_imports_nothing_of_genrpc_actors():
    modules = module_files(ROOT, PACKAGES)
    for name, path in modules.items():
        if name.startswith("supervision"):
            assert not {t for t in imports_of(name, path, modules) if t.startswith("genrpc")}


def test_every_module_has_a_layer():
    for name in module_files(ROOT, PACKAGES):
        unit_of(name, LAYERS)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small package whose imports break both rules, to show the check catches them."""
    package = tmp_path / "pkg"
    (package / "_low").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "_low" / "__init__.py").write_text("")
    (package / "_low" / "a.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg._high import b\n"
    )
    (package / "_high.py").write_text("def f():\n    from pkg._low import a\n")
    (package / "_mid.py").write_text("from pkg import _high\n")
    return tmp_path


def test_the_check_sees_an_upward_import_and_a_cycle_hidden_behind_type_checking(tree):
    layers = {"pkg": 9, "pkg._low": 0, "pkg._mid": 1, "pkg._high": 2}
    found = violations(tree, ("pkg",), layers)
    assert "pkg._low.a (rank 0) imports pkg._high (rank 2)" in found
    assert "pkg._mid (rank 1) imports pkg._high (rank 2)" in found
    assert "cycle: pkg._high -> pkg._low.a" in found


def test_one_table_of_transport_error_reasons_used_by_the_transport_only():
    """Socket and TLS errors become gen_rpc's reasons in ``_transport._reasons`` alone, and only
    the transport layer uses it: the ends of a connection never look at an ``OSError``."""
    modules = module_files(ROOT, PACKAGES)
    users = {
        name
        for name, path in modules.items()
        if "genrpc_actors._transport._reasons" in imports_of(name, path, modules)
    }
    assert users
    assert all(name.startswith("genrpc_actors._transport.") for name in users), users
    for name, path in modules.items():
        if name != "genrpc_actors._transport._reasons":
            assert "errno.ECONNREFUSED" not in path.read_text(), name


def test_one_handshake_driver_for_both_ends():
    """Both ends run their handshake machine through ``drive_handshake``; no other module reads
    handshake frames off a socket."""
    modules = module_files(ROOT, PACKAGES)
    drivers = {
        name
        for name, path in modules.items()
        if "genrpc_actors._transport._handshake_driver" in imports_of(name, path, modules)
    }
    assert drivers == {"genrpc_actors._client._connecting", "genrpc_actors._server._handshakes"}
    for name, path in modules.items():
        if name != "genrpc_actors._transport._handshake_driver":
            assert "recv(PREAUTH_MAX)" not in path.read_text(), name  # a handshake-sized read
