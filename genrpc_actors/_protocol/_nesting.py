"""How deeply a pickle nests, read off its opcodes before it is unpickled.

Unpickling itself is iterative, and CPython frees deep containers without recursion, but hashing
a tuple recurses in C with no recursion check: a dict key or set member that is a tuple nested a
few hundred thousand deep overflows the C stack and ends the process (SIGSEGV). So every tuple
in a body, and every object built from arguments (a named tuple hashes as one), may nest at
most ``limit`` deep; lists, dicts and sets break a chain (they are not hashed through). The
pickler that made a body cannot nest deeper than Python's recursion limit (1,000 by default),
so the default bound, ``MAX_NESTING``, refuses only bodies built by hand.

The check costs nothing for a pickle shorter than ``limit`` bytes (one opcode a level at least),
a few ``bytes.count`` for one with fewer bytes that could be deepening opcodes than ``limit``,
and a walk over its opcodes (in Python) only past that.
"""

from __future__ import annotations

import pickle
import pickletools
import struct
from typing import Final

__all__ = ["MAX_NESTING", "NestedTooDeep", "check_nesting"]

MAX_NESTING: Final = 10_000  # ~0.5 MiB of C stack to hash; thread stacks are 1-8 MiB


class NestedTooDeep(pickle.UnpicklingError):
    """A body nests deeper than the bound; nothing of it was unpickled."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"tuples nested deeper than max_nesting={limit}: refused unread")
        self.limit = limit


def check_nesting(data: bytes | bytearray | memoryview, limit: int) -> None:
    """Raise :class:`NestedTooDeep` if tuples (or objects) nest deeper than ``limit`` in the
    pickle ``data``. A malformed pickle passes: unpickling it fails on its own."""
    if len(data) <= limit:
        return
    raw = bytes(data) if not isinstance(data, bytes) else data
    if _walk(raw, limit, _FEW):
        return  # a few opcodes (a long string or two, say): walked whole
    if 1 + len(raw.translate(None, _NOT_DEEPENING)) <= limit:
        return  # fewer bytes that could deepen a chain than the bound
    _walk(raw, limit, len(raw))


# each step deeper takes one of these opcodes (TUPLE1-3), or one MARK (TUPLE, OBJ and INST
# each take their own): their bytes, counted anywhere, bound the depth
_NOT_DEEPENING: Final = bytes(sorted(set(range(256)) - set(b"\x85\x86\x87(")))
_FEW: Final = 32  # opcodes walked before counting instead (~1 us an opcode, ~1 ns a byte)


# -- the walk ---------------------------------------------------------------------------------

_LEAF, _NOOP, _TUPLE, _MARK_TUPLE, _MARK, _TO_MARK, _TO_MARK_LEAF = range(7)
_POP, _POPS_ABOVE, _DUP, _PUT, _GET, _MEMOIZE, _OBJECT, _BUILD, _TO_MARK_OBJECT = range(7, 16)
_STOP = 16

_NOT_DEEPER: Final = frozenset({0x93, 0x51})  # STACK_GLOBAL, BINPERSID
_LENGTH = {1: struct.Struct("<B"), 4: struct.Struct("<i"), 8: struct.Struct("<Q")}


def _table() -> dict[int, tuple[int, int, int]]:
    """code -> (argument: bytes >= 0, -1 a line, -2 two lines, -10-n an n-byte length; effect;
    effect's count)."""
    effects: dict[str, tuple[int, int]] = {
        "EMPTY_TUPLE": (_TUPLE, 0),
        "TUPLE1": (_TUPLE, 1),
        "TUPLE2": (_TUPLE, 2),
        "TUPLE3": (_TUPLE, 3),
        "TUPLE": (_MARK_TUPLE, 0),
        "MARK": (_MARK, 0),
        "LIST": (_TO_MARK_LEAF, 0),
        "DICT": (_TO_MARK_LEAF, 0),
        "FROZENSET": (_TO_MARK_LEAF, 0),
        "APPENDS": (_TO_MARK, 0),
        "SETITEMS": (_TO_MARK, 0),
        "ADDITEMS": (_TO_MARK, 0),
        "POP_MARK": (_TO_MARK, -1),
        "APPEND": (_POPS_ABOVE, 1),
        "SETITEM": (_POPS_ABOVE, 2),
        "POP": (_POP, 1),
        "DUP": (_DUP, 0),
        "PUT": (_PUT, 0),
        "BINPUT": (_PUT, 0),
        "LONG_BINPUT": (_PUT, 0),
        "GET": (_GET, 0),
        "BINGET": (_GET, 0),
        "LONG_BINGET": (_GET, 0),
        "MEMOIZE": (_MEMOIZE, 0),
        "REDUCE": (_OBJECT, 2),
        "NEWOBJ": (_OBJECT, 2),
        "NEWOBJ_EX": (_OBJECT, 3),
        "STACK_GLOBAL": (_OBJECT, 2),
        "BINPERSID": (_OBJECT, 1),
        "BUILD": (_BUILD, 0),
        "OBJ": (_TO_MARK_OBJECT, 0),
        "INST": (_TO_MARK_OBJECT, 0),
        "PROTO": (_NOOP, 0),
        "FRAME": (_NOOP, 0),
        "READONLY_BUFFER": (_NOOP, 0),
        "STOP": (_STOP, 0),
    }
    table = {}
    for op in pickletools.opcodes:
        arg = op.arg
        if arg is None:
            size = 0
        elif arg.n >= 0:
            size = arg.n
        elif arg.name.endswith("_pair"):
            size = -2
        elif arg.n == pickletools.UP_TO_NEWLINE:
            size = -1
        else:  # a length first: 1, 4 or 8 bytes (a long's bytes, a string's, ...)
            size = (
                -10
                - {
                    pickletools.TAKEN_FROM_ARGUMENT1: 1,
                    pickletools.TAKEN_FROM_ARGUMENT4: 4,
                    pickletools.TAKEN_FROM_ARGUMENT4U: 4,
                    pickletools.TAKEN_FROM_ARGUMENT8U: 8,
                }[arg.n]
            )
        effect, count = effects.get(op.name, (_LEAF, 0))
        table[op.code.encode("latin-1")[0]] = (size, effect, count)
    return table


_OPS: Final = _table()


def _walk(raw: bytes, limit: int, budget: int) -> bool:  # noqa: PLR0912, PLR0915 - one machine, one loop: faster whole
    """Run the pickle's stack machine on depths alone: a tuple is one more than its deepest
    item, an object as deep as its arguments, a list, dict or set 0. ``marks`` holds where
    each MARK stands in ``stack``. False if ``budget`` opcodes did not reach the end."""
    stack: list[int] = []
    marks: list[int] = []
    memo: dict[int, int] = {}
    ops, at, end = _OPS, 0, len(raw)
    while at < end:
        budget -= 1
        if budget < 0:
            return False
        code = raw[at]
        op = ops.get(code)
        if op is None:
            return True  # not a pickle opcode: unpickling says so
        size, effect, count = op
        at += 1
        start = at
        if size >= 0:
            at += size
        elif size == -1:
            at = raw.find(b"\n", at) + 1
        elif size == -2:  # noqa: PLR2004 - two lines: module and name
            at = raw.find(b"\n", raw.find(b"\n", at) + 1) + 1
        else:
            width = -10 - size
            if at + width > end:
                return True
            (length,) = _LENGTH[width].unpack_from(raw, at)
            at += width + max(length, 0)
        if at <= 0 or at > end:
            return True
        if effect == _LEAF:
            stack.append(0)
            continue
        if effect == _NOOP:
            continue
        if effect == _MARK:
            marks.append(len(stack))
            continue
        if effect == _TUPLE:
            if len(stack) - (marks[-1] if marks else 0) < count:
                return True
            depth = 1
            if count:
                depth += max(stack[-count:])
                del stack[-count:]
        elif effect in (_MARK_TUPLE, _TO_MARK, _TO_MARK_LEAF, _TO_MARK_OBJECT):
            if not marks:
                return True
            mark = marks.pop()
            items = stack[mark:]
            del stack[mark:]
            if effect == _TO_MARK:
                continue  # APPENDS, SETITEMS, ADDITEMS: the container stays as it was
            depth = 0 if effect == _TO_MARK_LEAF else 1 + max(items, default=0)
        elif effect == _OBJECT:
            if len(stack) < count:
                return True
            items = stack[-count:]
            del stack[-count:]
            depth = 0 if code in _NOT_DEEPER else max(items)  # as deep as its arguments
        elif effect == _POPS_ABOVE:  # APPEND, SETITEM: the container stays as it was
            if len(stack) <= count:
                return True
            del stack[-count:]
            continue
        elif effect == _POP:
            if marks and marks[-1] == len(stack):
                marks.pop()
            elif stack:
                stack.pop()
            continue
        elif effect == _DUP:
            if not stack:
                return True
            depth = stack[-1]
        elif effect in (_PUT, _MEMOIZE):
            if not stack:
                return True
            key = len(memo) if effect == _MEMOIZE else _index(raw, start, at, size)
            memo[key] = stack[-1]
            continue
        elif effect == _GET:
            depth = memo.get(_index(raw, start, at, size), 0)
        elif effect == _BUILD:  # state set on an object: not what a C hash walks through
            if len(stack) < 2:  # noqa: PLR2004
                return True
            stack.pop()
            continue
        else:  # STOP
            return True
        if depth > limit:
            raise NestedTooDeep(limit)
        stack.append(depth)
    return True


def _index(raw: bytes, start: int, at: int, size: int) -> int:
    if size == -1:
        try:
            return int(raw[start : at - 1])
        except ValueError:
            return -1
    return int.from_bytes(raw[start:at], "little")
