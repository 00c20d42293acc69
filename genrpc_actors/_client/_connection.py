"""The client end of one connection (one per ``(node, key)``): callers send and read on it.

A caller encodes its request and writes it to the socket under the connection's send lock, with
no actor in between. Replies are read by leaders and followers: reading the socket is a role that
one thread holds at a time. A caller waiting for its call takes the role when it is free and reads
its own reply, so a call wakes no other thread on this side; replies it reads for other callers
are handed to them, and when it has its own it hands the role to a caller still waiting (or lets
it go). The connection's own thread connects, authenticates, and reads when no caller does: for
``async_call``, multicalls and broadcasts, and on an idle connection, after a short grace so that
a run of calls keeps the role among the callers. An event loop's ``acall`` takes the role for
its loop (``_loop_role``), which then reads in its own thread when the socket is readable and
keeps the role between its calls; a blocking caller takes it back, and gives it back after its
call. Requests made while connecting wait in the outbox, so ``cast``, ``async_call`` and
``acall`` never block on a connect.

However the connection ends, every pending caller gets the error at once and the owner is told
(the ``Client`` actor, which then stops: the connection and the actor live and die together).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final, Literal

from genrpc_actors import _protocol
from genrpc_actors._client._connecting import Endpoint, Opener, open_connection
from genrpc_actors._client._loop_role import LoopRole
from genrpc_actors._client._pending import PendingReplies
from genrpc_actors._client._reply import Reply
from genrpc_actors._errors import BadTcp, RpcError
from genrpc_actors._protocol._messages import (
    CANCEL,
    PING,
    Body,
    message,
    message_parts,
)
from genrpc_actors._transport import _tcp
from genrpc_actors._transport._outbox import Outbox
from genrpc_actors._transport._reader import Reader
from genrpc_actors._transport._tls import TlsTransport

__all__ = ["Connection", "ConnectionStatistics"]

logger = logging.getLogger("genrpc_actors")
GRACE: Final = 0.005  # seconds without callers before the connection's thread reads again
_SLACK: Final = 0.002  # how far past a caller's deadline its receive may wait
_OWN: Final = object()  # the reading role's holder when it is the connection's own thread
_running_loop = asyncio.events._get_running_loop  # noqa: SLF001 - the C accessor, no raise
# seconds between looks, while an event loop holds the role, at whether it lives
LOOP_LOOK: Final = 0.1


@dataclass(frozen=True, slots=True)
class ConnectionStatistics:
    """One outgoing connection's counters at one moment."""

    state: Literal["connecting", "connected", "closed"]
    pending_calls: int  # calls awaiting a reply
    frames_sent: int
    frames_received: int
    receives: int  # receive system calls
    sends: int  # send system calls
    bytes_sent: int
    bytes_received: int
    queued_bytes: int  # waiting to be written (a slow peer makes this grow)
    age_s: float
    idle_s: float


class Connection:
    """Pending requests, a send lock, and the reader thread of one outgoing connection."""

    def __init__(self, endpoint: Endpoint, *, opener: Opener = open_connection) -> None:
        """``opener`` makes the connection (``open_connection``: TCP, TLS, the handshake)."""
        self.endpoint = endpoint
        self._opener = opener
        self._ready = threading.Event()  # set once connected and authenticated, or closed
        self.on_closed: Callable[[Connection, RpcError], None] | None = None  # set by the owner
        self.on_up: Callable[[], None] | None = None  # told once it has authenticated
        self.was_up = False  # it has authenticated (the node was up through it)
        self._lock = threading.Lock()  # guards error, the end of _pending, and _sock
        self._pending = PendingReplies()
        self._sock: socket.socket | None = None  # from the moment it is connected
        self._outbox = Outbox(endpoint.target, endpoint.timeouts[2], self.close)
        # leaders and followers (see the module docstring), all under _roles
        self._roles = threading.Lock()
        # who reads now: _OWN, a caller's Reply, an event loop's LoopRole, or None
        self._reader: object = _OWN
        self._followers: collections.deque[Reply] = collections.deque()
        self._loops: list[asyncio.AbstractEventLoop] = []  # event loops that want the role
        self._own_turn = threading.Event()  # wakes the connection's thread
        self._left = 0.0  # when the last caller let the role go
        self._io: socket.socket | TlsTransport | None = None
        self._receiver: Reader | None = None
        self._receive_timeout: float | None = None  # SO_RCVTIMEO now (None: none)
        self.error: RpcError | None = None
        self.created = self.last_activity = self.last_heard = time.monotonic()
        self.sent = 0  # frames
        self._reading_thread = threading.Thread(
            target=self._run, name=f"genrpc-client-{endpoint.target}", daemon=True
        )

    def __repr__(self) -> str:
        state = "closed" if self.error else ("connected" if self._sock else "connecting")
        return f"<Connection {self.endpoint.target} {state} pending={len(self._pending)}>"

    def start(self) -> None:
        self._reading_thread.start()

    @property
    def closed(self) -> bool:
        return self.error is not None

    @property
    def pending(self) -> int:
        return len(self._pending)

    def statistics(self) -> ConnectionStatistics:
        """This connection's counters now."""
        now = time.monotonic()
        pending = self._pending
        return ConnectionStatistics(
            state="closed" if self.error else ("connected" if self._sock else "connecting"),
            pending_calls=len(pending),
            frames_sent=self.sent,
            frames_received=pending.received,
            receives=self._receiver.receives if self._receiver is not None else 0,
            sends=self._outbox.writes,
            bytes_sent=self._outbox.bytes,
            bytes_received=pending.bytes_received,
            queued_bytes=self._outbox.queued,
            age_s=round(now - self.created, 3),
            idle_s=round(now - self.last_activity, 3),
        )

    def describe(self) -> dict[str, Any]:
        """This connection's counters, as plain data (for ``genrpc stats``)."""
        return dataclasses.asdict(self.statistics())

    # -- callers -------------------------------------------------------------------------------

    def request(
        self,
        kind: int,
        flags: int,
        body: Body,
        send_timeout: float | None,
        *,
        reply: bool,
        lead: bool = False,
        block: bool = True,
    ) -> tuple[int, Reply | None]:
        """Send one request; with ``reply=True`` its ``Reply`` will receive the answer, read by
        the caller itself in ``wait`` if ``lead``, else by whoever reads. Without ``block`` it
        never waits to write (an event loop's caller): the writer thread sends it."""
        pending = self._pending
        request_id = next(pending.ids)
        data = message_parts(kind, flags, request_id, body)
        self.sent += 1
        if not reply:
            if self.error is None:
                self._outbox.put(data, block=False)
            return request_id, None
        slot = Reply()
        error = self.error
        if error is None:
            pending.slots[request_id] = slot
            error = self.error  # close() may have emptied _pending meanwhile
        if error is not None:
            slot.set_error(error)
            return request_id, slot
        self._outbox.put(data, block=block, send_timeout=send_timeout, now=not block)
        if not lead and self._reader is None:
            self._read_own()
        return request_id, slot

    def _read_own(self) -> None:
        """Nobody reads: the connection's thread does (checked again under the lock, in a
        method of its own: a caller's narrowed view of ``_reader`` would miss a change)."""
        with self._roles:
            if self._reader is None:
                self._reader = _OWN
                self._own_turn.set()

    def wait(self, request_id: int, slot: Reply, timeout: float | None) -> bool:
        """Wait for the reply to a ``lead`` request, reading it here when nobody else reads;
        ``False`` on timeout (the reply is then forgotten)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        roles = self._roles
        while not slot.ready():
            if self._join(slot):
                break
            if self._reader is not slot:
                remaining = None if deadline is None else deadline - time.monotonic()
                woken = slot.wait_turn(remaining)
                if slot.ready():
                    break
                if not woken:
                    with roles:
                        if self._reader is slot:  # handed the role just as time ran out
                            self._pass_role()
                        elif slot in self._followers:
                            self._followers.remove(slot)
                    break
                if self._reader is not slot:
                    continue
            self._lead(slot, deadline)
            if deadline is not None and not slot.ready() and time.monotonic() >= deadline:
                break
        if slot.ready():
            return True
        self.cancel(request_id)
        return slot.ready()

    def _join(self, slot: Reply) -> bool:
        """Take the reading role for ``slot`` if nobody holds it, else wait in line; True if
        its reply has come meanwhile."""
        with self._roles:
            if slot.ready():
                return True
            self._take_from_loop()
            if self._reader is None and self._io is not None:
                self._reader = slot
            else:
                self._followers.append(slot)
        return False

    def _lead(self, slot: Reply, deadline: float | None) -> None:
        """Read, holding the role, until ``slot`` is set or ``deadline`` passes; pass it on."""
        try:
            while not slot.done:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    break
                self._read_some(remaining)
        except Exception as exc:  # noqa: BLE001 - ends the connection, whoever reads
            self.close(self._error_of(exc))
        finally:
            with self._roles:
                self._pass_role()

    def _pass_role(self) -> None:
        """Give the role to a caller still waiting, else to the connection's thread if replies
        are due, else to nobody (``_roles`` is held)."""
        followers = self._followers
        while followers:
            follower = followers.popleft()
            if follower.wake():
                self._reader = follower
                return
        while self._loops and self.error is None:
            loop = self._loops.pop()
            sock = self._sock
            if sock is None or loop.is_closed() or not loop.is_running():
                continue
            if loop is _running_loop():  # a blocking call made in that loop's own thread
                continue  # must not hand it the role: it reads nothing until the call ends
            role = LoopRole(loop, sock)
            self._reader = role  # before the loop can look at it: watch() checks it holds
            try:
                loop.call_soon_threadsafe(role.watch, self._read_in_loop, self._holds)
            except RuntimeError:  # closed just now
                role.leave()
                self._reader = None
                continue
            return
        if self._pending.slots or self.error is not None:
            self._reader = _OWN
            self._own_turn.set()
        else:
            self._reader = None
            self._left = time.monotonic()

    def await_in(self, loop: asyncio.AbstractEventLoop) -> None:
        """An event loop waits for the reply to a request sent with ``lead`` (this runs in its
        thread). It takes the reading role if nobody holds it and the stream is plain TCP, and
        then reads in its own thread; else whoever reads hands it the reply, and hands it the
        role when done (the connection's thread reads until then)."""
        reader = self._reader
        if type(reader) is LoopRole and reader.loop is loop:
            return  # the loop holds it already (if a caller takes it now, it reads for us)
        with self._roles:
            self._drop_dead_loop()
            reader = self._reader
            if isinstance(reader, LoopRole) and reader.loop is loop:
                return
            sock = self._sock
            plain = sock is not None and self._io is sock and self.error is None
            if reader is None and plain:
                assert sock is not None
                role = LoopRole(loop, sock)
                self._reader = role
                role.watch(self._read_in_loop, self._holds)
                return
            if plain and loop not in self._loops:
                self._loops.append(loop)
            if reader is None:
                self._reader = _OWN
                self._own_turn.set()

    def _take_from_loop(self) -> None:
        """A caller takes the role from a loop, which keeps it between its calls; the loop
        gets it back after this call, if it still runs (``_roles`` held)."""
        self._drop_dead_loop()
        reader = self._reader
        if isinstance(reader, LoopRole):
            if reader.loop not in self._loops:
                self._loops.append(reader.loop)
            reader.let_go()
            self._reader = None

    def _holds(self, role: LoopRole) -> bool:
        return self._reader is role and self.error is None

    def _drop_dead_loop(self) -> None:
        """A loop that has stopped holds the role for nobody: let it go (``_roles`` held)."""
        reader = self._reader
        if isinstance(reader, LoopRole) and not reader.alive():
            reader.leave()
            self._reader = None

    def _read_in_loop(self, role: LoopRole) -> None:
        """The socket is readable and ``role``'s loop may hold the role (the loop's thread):
        read once, hand out the replies; let the role go when callers wait or none is due."""
        failure: RpcError | None = None
        with self._roles:  # a caller may take the role from a loop, but only between reads
            if self._reader is not role or self.error is not None:
                role.leave()
                return
            receiver = self._receiver
            assert receiver is not None
            try:
                payloads = receiver.receive_now()
            except BlockingIOError:
                return
            except Exception as exc:  # noqa: BLE001 - ends the connection, whoever reads
                payloads, failure = None, self._error_of(exc)
            if payloads is None:
                role.leave()
                self._pass_role()
        if payloads is None:
            self.close(failure if failure is not None else BadTcp("closed"))
            return
        self.last_heard = now = time.monotonic()
        if self._pending.deliver(payloads):
            self.last_activity = now
        if self._followers:
            with self._roles:
                if self._reader is role and self._followers:
                    role.leave()
                    self._pass_role()

    def heartbeat(self, now: float, quiet: float, dead: float) -> None:
        """The node's heartbeat (about every second): a connection that has heard nothing for
        ``quiet`` seconds sends a PING, which any live node answers from its reading at once;
        one that has heard nothing for ``dead`` seconds (a node frozen or cut off) is closed."""
        if not self.was_up or self.error is not None:
            return
        silent = now - self.last_heard
        if silent >= dead:
            logger.info("event=peer_silent target=%s seconds=%.1f", self.endpoint.target, silent)
            self.close(
                BadTcp(
                    "timeout", f"timeout: {self.endpoint.target} said nothing for {silent:.1f} s"
                )
            )
        elif silent >= quiet:
            self._outbox.put(self._ping(), block=False, now=True)

    def _ping(self) -> bytes:
        """A PING, its body the seconds of silence after which this node is down to the
        peer: its keepalive bound (idle + interval x count), which its heartbeat keeps."""
        idle, interval, count = self.endpoint.keepalive
        return message(PING, 0, 0, b"%d" % (idle + interval * count))

    def cancel(self, request_id: int) -> None:
        """The caller stopped waiting (timeout): forget its reply, and tell the peer, which
        drops the request if it has not started and kills the process worker running it."""
        self._pending.forget(request_id)
        if self.error is None:
            self.sent += 1  # a frame, as the peer counts it
            self._outbox.put(message(CANCEL, 0, request_id, b""), block=False)

    def forget(self, request_id: int) -> None:
        """The caller gave up (timeout): a late reply will be dropped."""
        self._pending.forget(request_id)

    def close(self, error: RpcError) -> None:
        """Fail every pending request with ``error`` and close the socket (idempotent)."""
        error = _detached(error)
        with self._lock:
            if self.error is not None:
                return
            self.error = error
            pending = self._pending.take_all()
            sock = self._sock
        self._outbox.close()
        self._ready.set()
        with self._roles:
            reader = self._reader
            if isinstance(reader, LoopRole):  # the loop stops watching: its socket is no more
                reader.let_go()
        for slot in pending:
            slot.set_error(error)
        self._own_turn.set()
        if sock is not None:
            _tcp.shutdown(sock)

    def wait_connected(self, timeout: float | None = None) -> bool:
        """Wait until the connection is made and authenticated; False if it closed instead,
        or if ``timeout`` passed first."""
        return self._ready.wait(timeout) and self.error is None

    def join(self, timeout: float | None = None) -> None:
        if (
            self._reading_thread.is_alive()
            and self._reading_thread is not threading.current_thread()
        ):
            self._reading_thread.join(timeout)
        self._outbox.join(timeout)

    # -- the reader thread -----------------------------------------------------------------------

    def _run(self) -> None:
        error: RpcError = BadTcp("closed")
        try:
            sock, io = self._opener(self.endpoint, self._connected)
            tls = io if isinstance(io, TlsTransport) else None
            if tls is not None:
                tls.on_outgoing = self._outbox.flush_tls
            failure = self._outbox.attach(sock, tls)
            if failure is not None:
                raise failure
            self._receiver = Reader(io, _protocol.FrameDecoder(self.endpoint.max_frame))
            # the first PING says how long this node may stay silent: past that, the peer may
            # take it for frozen or cut off (and stop what it linked to it: spawned actors)
            self._outbox.put(self._ping(), block=False, now=True)
            self.was_up = True
            if self.on_up is not None:
                self.on_up()  # before any reply can be read: a call that returned finds it up
            self._io = io
            self._ready.set()
            self._serve()
        except Exception as exc:  # noqa: BLE001 - every end of a connection has a reason
            error = self._error_of(exc)
        finally:
            self.close(error)
            # told once, with the first reason (a close from outside ends the reading too);
            # the owner (which holds this connection) is not held past that
            on_closed, self.on_closed = self.on_closed, None
            if on_closed is not None:
                on_closed(self, self.error if self.error is not None else error)

    def _error_of(self, exc: Exception) -> RpcError:
        if isinstance(exc, RpcError):
            return exc
        if isinstance(exc, _protocol.FrameTooLarge):
            return BadTcp("frame_too_large", str(exc))
        if isinstance(exc, ValueError):  # a message shorter than its header: a broken peer
            return BadTcp("invalid_message")
        logger.error("event=client_reader_failed target=%s", self.endpoint.target, exc_info=exc)
        return BadTcp(("internal_error", repr(exc)))

    def _connected(self, sock: socket.socket) -> None:
        """TCP is up: from now on ``close()`` can end a handshake that hangs."""
        with self._lock:
            if self.error is not None:
                raise self.error
            self._sock = sock

    def _serve(self) -> None:
        """The connection's thread: read while it holds the role; give it to callers that come."""
        inactivity = self.endpoint.timeouts[3]
        roles = self._roles
        while self.error is None:
            if self._reader is _OWN:
                if inactivity is None:
                    self._read_some(None)
                else:
                    idle = time.monotonic() - self.last_activity
                    came = self._read_some(max(0.0, inactivity - idle))
                    idle = time.monotonic() - self.last_activity
                    if not came and not self._pending.slots and idle >= inactivity:
                        raise BadTcp("inactivity")
                with roles:
                    if self._followers or self._loops:  # callers came: the role is theirs
                        self._pass_role()
                continue
            with roles:
                self._own_turn.clear()
                wait: float | None = GRACE
                self._drop_dead_loop()
                if isinstance(self._reader, LoopRole):
                    wait = LOOP_LOOK  # a loop holds it, perhaps for long: is it still alive?
                if self._reader is None:
                    idle = time.monotonic() - self._left
                    if self._pending.slots or idle >= GRACE:
                        self._reader = _OWN
                        wait = 0.0  # it reads at once
                    else:
                        wait = GRACE - idle
            if wait:
                self._own_turn.wait(wait)
        raise self.error

    def _read_some(self, timeout: float | None) -> bool:
        """Read once (the role is held) and hand out the replies; False if nothing came
        within ``timeout`` (None: as long as it takes, give or take the kernel's timeout)."""
        reader, sock = self._receiver, self._sock
        assert reader is not None
        assert sock is not None
        if timeout is not None:
            # SO_RCVTIMEO bounds the wait without a poll() before every receive; it is set again
            # only when it would overshoot the deadline, or wake far too early
            kernel = self._receive_timeout
            if kernel is None or kernel > timeout + _SLACK or kernel < timeout / 2:
                _tcp.set_receive_timeout(sock, timeout)
                self._receive_timeout = timeout
        try:
            payloads = reader.receive()
        except BlockingIOError:  # the kernel's receive timeout
            return False
        if payloads is None:
            raise BadTcp("closed")
        self.last_heard = now = time.monotonic()
        if self._pending.deliver(payloads):
            self.last_activity = now
        return True


def _detached(error: RpcError) -> RpcError:
    """``error`` without its traceback and the exceptions it was raised in, as the connection
    keeps it (and hands it to every caller). Their frames, the connection's ``self`` among
    them, would keep the connection and its buffers in a cycle that only the cycle collector
    frees; the callers raise copies, with tracebacks of their own."""
    error.__traceback__ = error.__context__ = None
    return error
