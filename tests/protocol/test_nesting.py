"""How deeply a body nests is read off its opcodes before it is unpickled: tuples (and objects
built from them, as named tuples are) nested deeper than the bound are refused unread, in every
pickle protocol, however the chain is hidden (memo, marks); lists, dicts and sets do not count,
and what the pickler itself makes passes."""

from __future__ import annotations

import collections
import pickle

import pytest

from genrpc_actors._protocol import MAX_NESTING, NestedTooDeep, check_nesting, decode_body

LIMIT = 40
Pair = collections.namedtuple("Pair", "first second")


def nested_tuple(depth: int) -> tuple:
    value: tuple = ()
    for _ in range(depth - 1):
        value = (value,)
    return value


def nested_pairs(depth: int) -> object:
    value: object = 0
    for _ in range(depth):
        value = Pair(value, 1)
    return value


def nested_list(depth: int) -> list:
    value: list = []
    for _ in range(depth - 1):
        value = [value]
    return value


def padded(data: bytes) -> bytes:
    """The same pickle, longer than ``LIMIT`` bytes (shorter ones cannot nest past it)."""
    return data[:-1] + b"N0" * LIMIT + b"."  # NONE, POP: nothing changes


PROTOCOLS = range(pickle.HIGHEST_PROTOCOL + 1)


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "value",
    [
        nested_tuple(LIMIT),
        [nested_tuple(LIMIT)] * 3,
        {nested_tuple(LIMIT): nested_tuple(LIMIT)},
        frozenset({nested_tuple(LIMIT)}),
        nested_list(LIMIT * 10),  # lists are not hashed through: depth does not count
        {"k": "text" * 10_000},
        [(i, f"row{i}") for i in range(LIMIT * 3)],  # many tuples, none nested
    ],
    ids=["tuple", "in a list", "dict key", "frozenset", "deep list", "text", "rows"],
)
def test_what_the_pickler_makes_within_the_bound_passes(value, protocol):
    data = padded(pickle.dumps(value, protocol=protocol))
    check_nesting(data, LIMIT)
    assert pickle.loads(data) == value


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize(
    "value",
    [
        nested_tuple(LIMIT + 1),
        [[nested_tuple(LIMIT + 1)]],
        {nested_tuple(LIMIT + 1): 1},
        frozenset({nested_tuple(LIMIT + 1)}),
        nested_pairs(LIMIT + 1),
    ],
    ids=["tuple", "in lists", "dict key", "frozenset", "named tuples"],
)
def test_one_level_past_the_bound_is_refused(value, protocol):
    with pytest.raises(NestedTooDeep) as info:
        check_nesting(padded(pickle.dumps(value, protocol=protocol)), LIMIT)
    assert f"max_nesting={LIMIT}" in str(info.value)


def test_a_chain_hidden_behind_the_memo_is_followed():
    # () then, again and again: put it in the memo, pop it, get it back, wrap it
    level = b"q\x000h\x00\x85"  # BINPUT 0, POP, BINGET 0, TUPLE1
    data = b"\x80\x04)" + level * (LIMIT + 1) + b"."
    with pytest.raises(NestedTooDeep):
        check_nesting(data, LIMIT)
    check_nesting(b"\x80\x04)" + level * (LIMIT - 1) + b"N0" * LIMIT + b".", LIMIT)


def test_a_million_levels_as_a_dict_key_are_refused_before_unpickling_would_crash():
    """The body that killed a node: unpickling it hashes the key, recursing in C a million
    deep (SIGSEGV). It is refused, quickly, and nothing of it is loaded."""
    levels = 1_000_000
    data = b"\x80\x04}" + b")" + b"\x85" * levels + b"K\x01s."
    with pytest.raises(NestedTooDeep):
        check_nesting(data, MAX_NESTING)
    with pytest.raises(NestedTooDeep):
        decode_body(data, 0)  # the default bound applies to every body


def test_malformed_pickles_pass_to_the_unpickler_which_refuses_them():
    for data in (b"\x80\x04" + b"\xff" * 100, b"(" * 100, b"\x80\x04" + b"\x85" * 100 + b"."):
        check_nesting(data, LIMIT * 100)  # no exception of its own, no hang
        with pytest.raises(Exception):  # noqa: B017 - whatever pickle says
            pickle.loads(data)
