"""The reading role held by an event loop: the loop reads its replies itself.

An ``acall`` whose connection nobody reads takes the role for its loop: the socket (through a
duplicate descriptor, see ``LoopRole``) is watched by the loop, which reads and hands out replies
in its own thread when data comes, so a reply wakes the loop and no other thread. Registration is
removed lazily: whenever the watched descriptor is readable and the loop no longer holds the
role (passed on to a caller, taken back by the connection's thread, the connection closed), the
loop lets go of it without reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import Callable

__all__ = ["LoopRole"]


class LoopRole:
    """One event loop's hold on a connection's reading role.

    The loop watches a duplicate of the socket's descriptor, closed only when the loop lets go,
    so that a connection closed from another thread can never leave the loop watching a number
    the system has given to another socket meanwhile."""

    __slots__ = ("_done", "_sock", "_watched", "loop")

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket) -> None:
        self.loop, self._sock = loop, sock
        self._watched: socket.socket | None = None  # the duplicate, made by watch()
        self._done = False

    def __repr__(self) -> str:
        return f"<LoopRole {self.loop!r} watching={self._watched is not None}>"

    def watch(self, readable: Callable[[LoopRole], None], held: Callable[[LoopRole], bool]) -> None:
        """Have the loop call ``readable(self)`` whenever the socket has data (in the loop's
        thread), unless the role has gone meanwhile (``held(self)`` is False, or it was let go)."""
        if self._done or not held(self):
            return
        self._watched = self._sock.dup()
        self.loop.add_reader(self._watched.fileno(), readable, self)

    def leave(self) -> None:
        """Stop watching (the loop's thread, or any thread once the loop has closed)."""
        self._done = True
        watched, self._watched = self._watched, None
        if watched is None:
            return
        if not self.loop.is_closed():
            with contextlib.suppress(Exception):
                self.loop.remove_reader(watched.fileno())
        watched.close()

    def let_go(self) -> None:
        """``leave`` from any thread: in the loop's thread if it runs, else here."""
        self._done = True  # a watch() still to come will not start
        if self._watched is None:
            return
        if self.alive():
            try:
                self.loop.call_soon_threadsafe(self.leave)
            except RuntimeError:  # it closed just now
                pass
            else:
                return
        self.leave()

    def alive(self) -> bool:
        """Whether the loop can still read: a loop that stopped holds the role for nobody."""
        return self.loop.is_running() and not self.loop.is_closed()
