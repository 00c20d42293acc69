"""Errors name what they were about, and say whether a retry may help.

A failure to reach a node keeps gen_rpc's reason and adds where: ``node``, ``host``, ``port``
and ``driver`` as attributes, all of them in the message. ``transient`` separates failures of the
network or of the node's reachability from failures of the request itself.
"""

from __future__ import annotations

import copy
import pickle
import sys

import pytest

from genrpc_actors import BadRpc, BadTcp, ConfigError, RemoteError, RpcError
from genrpc_actors.testing import silent_listener
from tests.node_fixtures import FAKE, SLAVE, start_master

IMPOSTOR = "impostor@127.0.0.1"  # mapped to the slave's port: someone else answers there
HANGER = "hanger@127.0.0.1"  # mapped to a listener that never answers


@pytest.fixture
def caller(driver, slave, master_port, fake_port):
    with silent_listener() as silent:
        peers = {SLAVE: driver.port(slave), FAKE: fake_port, IMPOSTOR: driver.port(slave)}
        node = start_master(
            driver, master_port, {**peers, HANGER: silent}, authentication_timeout=1.0
        )
        try:
            yield node
        finally:
            node.stop()


def _failure(node, target, timeout=5.0) -> RpcError:
    with pytest.raises(RpcError) as info:
        node.call(target, "os", "getpid", timeout=timeout)
    return info.value


def test_econnrefused_names_host_and_port(caller, driver, fake_port):
    error = _failure(caller, FAKE)
    assert type(error) is BadRpc
    assert error.reason == "econnrefused"
    assert (error.node, error.host, error.port, error.driver) == (
        FAKE,
        "127.0.0.1",
        fake_port,
        driver.name,
    )
    assert f"127.0.0.1:{fake_port} ({driver.name})" in str(error)
    assert FAKE in str(error)
    assert error.transient


def test_the_node_that_answered_is_named(caller, driver, slave):
    error = _failure(caller, IMPOSTOR)
    # under ssl the slave's certificate, which names it, already shows it is not the impostor
    assert error.reason == ("node_certificate_mismatch" if driver.tls else "badnode")
    assert SLAVE in str(error)
    assert IMPOSTOR in str(error)
    assert error.port == driver.port(slave)
    assert not error.transient  # asking again asks the wrong node again


@pytest.mark.parametrize("call_timeout", [0.3, 5.0], ids=["call_timeout", "handshake_timeout"])
def test_a_node_that_never_answers_is_a_transient_timeout(caller, call_timeout):
    error = _failure(caller, HANGER, timeout=call_timeout)
    assert error.reason == "timeout"
    assert error.node == HANGER
    assert error.port is not None
    assert f"127.0.0.1:{error.port}" in str(error)
    assert error.transient


def test_every_caller_gets_the_details(caller, fake_port):
    keys = [caller.async_call(FAKE, "os", "getpid") for _ in range(3)]
    errors = []
    for key in keys:
        with pytest.raises(BadRpc) as info:
            caller.yield_(key)
        errors.append(info.value)
    assert all(error.port == fake_port for error in errors)
    result = caller.multicall([SLAVE, FAKE], "os", "getpid", timeout=5)
    assert result.bad_nodes == [FAKE]
    assert result.errors[FAKE].port == fake_port


def test_request_failures_are_not_transient(caller):
    with pytest.raises(RemoteError) as raised:
        caller.call(SLAVE, "os", "no_such_function")
    assert not raised.value.transient
    assert raised.value.node is None  # the node was reached
    with pytest.raises(BadRpc) as refused:
        caller.call(SLAVE, ("os", "999.0"), "getpid")
    assert refused.value.reason == "incompatible"
    assert not refused.value.transient


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (BadRpc("econnrefused"), True),
        (BadRpc("timeout"), True),
        (BadRpc("ehostunreach"), True),
        (BadRpc(("not_running", "dispatcher")), True),
        (BadTcp("closed"), True),
        (BadTcp("frame_too_large"), True),
        (BadRpc("unauthorized"), False),
        (BadRpc("invalid_cookie"), False),
        (BadRpc(("killed", "time_limit")), False),
        (BadRpc(("unpicklable_argument", "TypeError: x")), False),
        (RemoteError(ValueError("x"), ""), False),
        (ConfigError("connect_timeout", "must be seconds"), False),
    ],
    ids=repr,
)
def test_transient_by_reason(error, transient):
    assert error.transient is transient


def test_details_survive_copy_and_pickle():
    error = BadRpc("econnrefused", "econnrefused: nothing listens on 127.0.0.1:9 (tcp)")
    error.node, error.host, error.port, error.driver = FAKE, "127.0.0.1", 9, "tcp"
    for twin in (copy.copy(error), pickle.loads(pickle.dumps(error))):
        assert (twin.reason, str(twin)) == (error.reason, str(error))
        assert (twin.node, twin.host, twin.port, twin.driver) == (FAKE, "127.0.0.1", 9, "tcp")


def test_a_module_the_node_cannot_import_is_named_with_what_to_do(caller, tmp_path, monkeypatch):
    (tmp_path / "only_on_the_caller.py").write_text(
        "def double(x):\n    return 2 * x\n\n\nclass Box:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import only_on_the_caller  # exists only in this test

    try:
        for value in (only_on_the_caller.double, only_on_the_caller.Box()):
            with pytest.raises(BadRpc) as info:
                caller.call(SLAVE, "builtins", "repr", args=(value,))
            assert info.value.reason[0] == "undecodable"
            assert "only_on_the_caller" in str(info.value)
            assert "install that module there" in str(info.value)
            assert not info.value.transient
    finally:
        sys.modules.pop("only_on_the_caller", None)
