"""The exported names are the contract: adding or removing one is a deliberate change."""

from __future__ import annotations

import pickle
import subprocess
import sys

import supervision
import supervision.testing

SUPERVISION_API = {
    "NORMAL",
    "SHUTDOWN",
    "ChildInfo",
    "ChildSpec",
    "Down",
    "DynamicSupervisor",
    "Exit",
    "ExitReason",
    "ForeignRef",  # the protocol of refs it does not own (another node's actors)
    "MonitorRef",
    "StartError",
    "SupervisedActor",
    "SupervisionError",
    "Supervisor",
    "SupervisorStatistics",
    "demonitor",
    "exit",
    "exit_signal",  # what a ForeignRef's sv_signal does where its actor lives
    "handle",
    "link",
    "monitor",
    "start_dynamic_supervisor",
    "start_supervisor",
    "unlink",
}


def test_supervision_exports_exactly_its_api():
    assert set(supervision.__all__) == SUPERVISION_API
    for name in SUPERVISION_API:
        assert getattr(supervision, name) is not None
    public = {n for n in vars(supervision) if not n.startswith("_")}
    assert public - SUPERVISION_API <= {"testing"}


def test_testing_kit_exports():
    assert set(supervision.testing.__all__) == {"FakeClock", "stop_actors", "supervision_trees"}


def test_supervision_never_imports_genrpc_actors():
    code = "import sys, supervision, supervision.testing; print('genrpc_actors' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_exit_reasons_are_singletons_that_survive_pickling():
    assert pickle.loads(pickle.dumps(supervision.NORMAL)) is supervision.NORMAL
    assert pickle.loads(pickle.dumps(supervision.SHUTDOWN)) is supervision.SHUTDOWN
    assert repr(supervision.NORMAL) == "supervision.NORMAL"


def test_the_cli_entry_point_answers_version():
    out = subprocess.run(
        [sys.executable, "-m", "genrpc_actors", "--version"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0
    assert out.stdout.strip()


GENRPC_API = {
    "AsyncKey",
    "BadRpc",
    "BadTcp",
    "Config",
    "ConfigError",
    "NameTakenError",
    "NoNodeError",
    "MultiResult",
    "Node",
    "NodeStatistics",
    "RemoteActorRef",
    "RemoteError",
    "RpcError",
    "Value",
    "__version__",
    "NodeDown",
    "NodeUp",
    "demonitor_node",
    "monitor_node",
    "monitor_nodes",
    "actor",
    "abcast",
    "acall",
    "amulticall",
    "asbcast",
    "async_call",
    "call",
    "cast",
    "eval_everywhere",
    "multicall",
    "nb_yield",
    "node",
    "nodes",
    "register",
    "registered",
    "sbcast",
    "spawn",
    "start",
    "stop",
    "unregister",
    "whereis",
    "yield_",
}


def test_genrpc_actors_exports_exactly_its_api():
    import genrpc_actors

    assert set(genrpc_actors.__all__) == GENRPC_API
    public = {n for n in vars(genrpc_actors) if not n.startswith("_")}
    assert public - GENRPC_API <= {"annotations", "testing", "discovery", "TYPE_CHECKING", "Any"}


def test_error_tree():
    import genrpc_actors as g

    assert issubclass(g.RemoteError, g.BadRpc)
    for error in (g.BadRpc, g.BadTcp, g.NoNodeError, g.NameTakenError, g.ConfigError):
        assert issubclass(error, g.RpcError)
    error = g.BadRpc(("external_source_error", "down"))
    assert error.reason == ("external_source_error", "down")
    assert pickle.loads(pickle.dumps(error)).reason == error.reason


# Every module-level RPC function is also a Node method, with the same signature and text.
NODE_TWINS = [
    "abcast",
    "spawn",
    "actor",
    "demonitor_node",
    "monitor_node",
    "monitor_nodes",
    "acall",
    "amulticall",
    "asbcast",
    "async_call",
    "call",
    "cast",
    "eval_everywhere",
    "multicall",
    "nb_yield",
    "nodes",
    "register",
    "registered",
    "sbcast",
    "unregister",
    "whereis",
    "yield_",
]


def test_module_functions_and_node_methods_keep_the_same_signatures_and_docstrings():
    import inspect

    import genrpc_actors

    for name in NODE_TWINS:
        function, method = getattr(genrpc_actors, name), getattr(genrpc_actors.Node, name)
        signature = inspect.signature(method)
        without_self = signature.replace(parameters=list(signature.parameters.values())[1:])
        assert str(inspect.signature(function)) == str(without_self), name
        assert inspect.getdoc(function), name
        assert inspect.getdoc(function) == inspect.getdoc(method), name


def test_a_node_keeps_its_state_private():
    """What a Node shows: its name and configuration, where it listens, whether it runs, its
    tree, its counters and the RPC API; connections, workers and the cookie are its own."""
    import genrpc_actors

    node = genrpc_actors.Node.start("private@127.0.0.1", cookie="c", tcp_server_port=0)
    try:
        assert {n for n in vars(node) if not n.startswith("_")} == {"name", "config"}
        public = {n for n in dir(type(node)) if not n.startswith("_")}
        assert public == {
            *NODE_TWINS,
            "describe",
            "make_default",
            "metrics_port",
            "port",
            "running",
            "ssl_port",
            "start",
            "statistics",
            "stop",
            "tree",
        }
    finally:
        node.stop()


def test_genrpc_actors_testing_exports():
    import genrpc_actors.testing

    assert set(genrpc_actors.testing.__all__) == {
        "ConnectionPair",
        "FakeClock",
        "LocalNode",
        "closed_port",
        "connection_pair",
        "connections",
        "free_port",
        "incoming",
        "local_node_factory",
        "node_statistics",
        "silent_listener",
        "start_node",
    }


def test_genrpc_stats_fetches_describe_from_a_public_module():
    """``genrpc stats`` calls ``genrpc_actors.introspection.describe`` on the node it asks
    about: that path is part of the wire contract between the command and a node."""
    import genrpc_actors
    import genrpc_actors.introspection

    with genrpc_actors.Node.start("described@127.0.0.1", cookie="c", tcp_server_port=0) as node:
        assert node.make_default()
        described = genrpc_actors.introspection.describe()
    assert described["name"] == "described@127.0.0.1"
    assert set(described) == {
        "name",
        "port",
        "ssl_port",
        "metrics_port",
        "running",
        "connections",
        "acceptors",
        "handshakes",
        "workers",
        "event_loop",
        "process_workers",
        "restarts",
    }
