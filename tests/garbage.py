"""What only the cycle collector would free: for tests that things are freed when they end.

The cycle collector runs when allocations say so, not when a connection or an actor ends: an
object in a reference cycle (an object and a callback bound to it, an exception whose traceback
holds the frames of the object's thread) keeps everything it reaches until then, buffers too.
Inside ``cycle_collector_off()`` the collector does not run, and what it would free is kept to
look at (``DEBUG_SAVEALL``); ``left_for_the_cycle_collector()`` names what of it is ours.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

OURS = ("genrpc_actors", "supervision")
LARGE = 64 * 1024  # a buffer past a connection's receive scratch: a large frame's


@contextlib.contextmanager
def cycle_collector_off() -> Iterator[None]:
    """The cycle collector off (what it would free is kept in ``gc.garbage``), then on again."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def left_for_the_cycle_collector(ours: tuple[str, ...] = OURS) -> list[str]:
    """The objects whose type is of ``ours`` modules, and the buffers over ``LARGE`` bytes, that
    only the cycle collector would free (inside ``cycle_collector_off()``)."""
    gc.collect()
    found = []
    for obj in gc.garbage:
        kind = type(obj)
        if kind.__module__.startswith(ours):
            found.append(f"{kind.__module__}.{kind.__qualname__}")
        # bytes and bytearrays are not tracked by gc: they show as what the garbage refers to
        for part in (obj, *gc.get_referents(obj)):
            size = _size(part)
            if size > LARGE:
                found.append(f"{type(part).__name__} of {size} bytes")
    return sorted(found)


def _size(obj: object) -> int:
    try:
        if isinstance(obj, memoryview):
            return obj.nbytes
        if isinstance(obj, bytes | bytearray):
            return len(obj)
    except ValueError:  # a released memoryview
        pass
    return 0
