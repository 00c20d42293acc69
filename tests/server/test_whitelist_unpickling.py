"""With ``rpc_module_control = "whitelist"`` the whitelist also bounds unpickling: a request
whose pickle names any other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``, a
``functools.partial`` of them, nested anywhere, in any pickle protocol) is refused with
``BadRpc("unauthorized")`` before any of it runs. With module control off, the same pickles do
run: the control case that shows each gadget is real."""

from __future__ import annotations

import builtins
import contextlib
import datetime
import decimal
import functools
import os
import pickle
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from genrpc_actors import BadRpc
from genrpc_actors import _protocol as wire
from genrpc_actors._node._requests import resolve
from genrpc_actors.testing import connection_pair
from tests.waiting import WAIT, wait_for


class Reduces:
    """Pickles as ``function(*args)``: what a hostile peer would send."""

    def __init__(self, function: Any, *args: Any) -> None:
        self.function, self.args = function, args

    def __reduce__(self) -> tuple[Any, ...]:
        return self.function, self.args


def gadgets(marker: Path) -> dict[str, Any]:
    """Each creates ``marker`` when it is unpickled."""
    touch = f"touch {marker}"
    return {
        "os.system": Reduces(os.system, touch),
        "builtins.eval": Reduces(builtins.eval, f"open({str(marker)!r}, 'w').close()"),
        "builtins.exec": Reduces(builtins.exec, f"open({str(marker)!r}, 'w').close()"),
        "subprocess.Popen": Reduces(subprocess.Popen, ["touch", str(marker)]),
        "partial(os.system)": Reduces(functools.partial(os.system, touch)),
        "nested in a dict in a list": [{"k": (1, Reduces(os.system, touch))}],
    }


GADGETS = list(gadgets(Path("/x")))


def call_with_raw_body(pair: Any, body: bytes) -> Any:
    request_id, slot = pair.client.request(wire.CALL, 0, body, None, reply=True, lead=True)
    assert pair.client.wait(request_id, slot, WAIT)
    return resolve(slot)


def gadget_body(gadget: Any, protocol: int) -> bytes:
    return pickle.dumps(("operator", None, "truth", (gadget,), {}), protocol=protocol)


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("name", GADGETS)
def test_a_whitelisted_node_refuses_a_gadget_before_it_runs(tmp_path, name, protocol):
    marker = tmp_path / "ran"
    with connection_pair(rpc_module_control="whitelist", rpc_module_list=["operator"]) as pair:
        with pytest.raises(BadRpc) as info:
            call_with_raw_body(pair, gadget_body(gadgets(marker)[name], protocol))
        assert info.value.reason == "unauthorized"
        assert not marker.exists()
        assert call_with_raw_body(pair, pickle.dumps(("operator", None, "add", (1, 2), {}))) == 3


# the Popen gadget leaves its process object to the garbage collector, which says so
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("name", GADGETS)
def test_without_module_control_the_same_gadget_runs(tmp_path, name):
    marker = tmp_path / "ran"
    with connection_pair() as pair:
        body = gadget_body(gadgets(marker)[name], 5)
        with contextlib.suppress(BadRpc):  # whatever truth() made of it: the gadget ran
            call_with_raw_body(pair, body)
        wait_for(marker.exists)  # a Popen's touch runs in a process of its own


def test_plain_data_and_whitelisted_globals_pass():
    plain = [
        {"when": datetime.datetime(2026, 12, 6, tzinfo=datetime.UTC), "d": datetime.date.today()},
        decimal.Decimal("1.50"),
        uuid.UUID(int=7),
        frozenset({1, 2}),
        bytearray(b"x" * 100_000),
        b"y" * 100_000,
    ]
    with connection_pair(rpc_module_control="whitelist", rpc_module_list=["operator"]) as pair:
        for value in plain:
            body = pickle.dumps(("operator", None, "is_not", (value, None), {}), protocol=5)
            assert call_with_raw_body(pair, body) is True
        partial = functools.partial(__import__("operator").add, 1)  # functools is not listed
        with pytest.raises(BadRpc) as info:
            call_with_raw_body(pair, pickle.dumps(("operator", None, "truth", (partial,), {})))
        assert info.value.reason == "unauthorized"


def test_decode_body_names_the_refused_global():
    body = pickle.dumps(Reduces(os.system, "true"))
    with pytest.raises(wire.RefusedGlobal) as info:
        wire.decode_body(body, 0, lambda module, name: False)
    assert (info.value.module, info.value.name) == (os.system.__module__, "system")
    with pytest.raises(wire.RefusedGlobal):
        wire.decode_body(b"anything", wire.DILL, lambda module, name: True)
    assert wire.decode_body(pickle.dumps([1, "a", (2.0,)]), 0, lambda m, n: False) == [
        1,
        "a",
        (2.0,),
    ]


def test_inert_decoding_keeps_the_rest_and_runs_nothing(tmp_path):
    marker = tmp_path / "ran"
    body = pickle.dumps(("reason", Reduces(os.system, f"touch {marker}"), "text"), protocol=5)
    reason, stand_in, text = wire.decode_body(body, 0, lambda module, name: False, inert=True)
    assert (reason, text) == ("reason", "text")
    assert isinstance(stand_in, wire.Inert)
    assert not marker.exists()
