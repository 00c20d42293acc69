"""The ``ssl`` driver: TLS contexts, a sans-IO TLS transport, and node-name checks.

OpenSSL must not see one connection used by two threads at once, and a node's connection is
read by one thread while callers write to it. So TLS runs over memory BIOs (``ssl.SSLObject``):
the socket carries ciphertext, every use of the TLS object is under one short lock, and the
owner's outbox encrypts and drains under its send lock, which keeps TLS records in order.

A node's certificate names it as ``genrpc:name@host`` in its subjectAltName (or as its subject's
common name): the client checks that the server's certificate names the node it asked for, the
server checks that the client's names the node the client claims in the handshake.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from genrpc_actors._errors import BadRpc, BadTcp, ConfigError
from genrpc_actors._transport._reasons import bad_tcp

__all__ = ["TlsTransport", "certificate_names", "client_context", "server_context"]

RECV_SIZE = 256 * 1024
RECORD_SIZE = 16 * 1024  # the most plaintext one TLS record carries
_KNOWN_OPTIONS = {"certfile", "keyfile", "cacertfile", "password", "ciphers", "minimum_version"}


def _context(purpose: int, options: Mapping[str, Any], key: str) -> ssl.SSLContext:
    unknown = set(options) - _KNOWN_OPTIONS
    if unknown:
        raise ConfigError(key, f"unknown TLS option {sorted(unknown)[0]!r}")
    for needed in ("certfile", "keyfile", "cacertfile"):
        if not options.get(needed):
            raise ConfigError(key, f"{needed} is required: both ends present certificates")
    context = ssl.SSLContext(purpose)
    context.minimum_version = options.get("minimum_version", ssl.TLSVersion.TLSv1_2)
    if context.minimum_version < ssl.TLSVersion.TLSv1_2:
        raise ConfigError(key, "TLS below 1.2 is not allowed")
    try:
        context.load_cert_chain(options["certfile"], options["keyfile"], options.get("password"))
        context.load_verify_locations(options["cacertfile"])
    except (OSError, ssl.SSLError) as exc:
        raise ConfigError(key, f"cannot load certificates: {exc}") from None
    if options.get("ciphers"):
        context.set_ciphers(options["ciphers"])
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def server_context(options: Mapping[str, Any]) -> ssl.SSLContext:
    """A server context: TLS 1.2 or newer, a client certificate required and verified."""
    return _context(ssl.PROTOCOL_TLS_SERVER, options, "ssl_server_options")


def client_context(options: Mapping[str, Any]) -> ssl.SSLContext:
    """A client context: the server's certificate verified against the CA; the node name is
    checked by :func:`certificate_names`, not by hostname."""
    context = _context(ssl.PROTOCOL_TLS_CLIENT, options, "ssl_client_options")
    context.check_hostname = False
    return context


def certificate_names(cert: Mapping[str, Any] | None) -> set[str]:
    """The node names a (verified) peer certificate carries."""
    if not cert:
        return set()
    names = {
        value[len("genrpc:") :]
        for kind, value in cert.get("subjectAltName", ())
        if kind == "URI" and value.startswith("genrpc:")
    }
    for rdn in cert.get("subject", ()):
        names.update(value for key, value in rdn if key == "commonName")
    return names


class TlsTransport:
    """TLS over a blocking socket, safe for one reader thread and writers holding a send lock."""

    def __init__(self, sock: socket.socket, context: ssl.SSLContext, *, server: bool) -> None:
        self.sock = sock
        self._incoming, self._outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self._tls = context.wrap_bio(self._incoming, self._outgoing, server_side=server)
        self._lock = threading.Lock()
        # set by the owner before frames flow: sends what drain() gives, in order with frames
        self.on_outgoing: Callable[[], None] | None = None

    def handshake(self, timeout: float) -> None:
        """Run the TLS handshake over the blocking socket (the only time this thread sends
        without the send lock). ``BadRpc(("tls", why))`` if TLS refuses, ``BadTcp`` if the
        socket fails."""
        deadline = time.monotonic() + timeout
        received = b""
        try:
            while True:
                try:
                    done = self.feed_handshake(received)
                except BadRpc:
                    with contextlib.suppress(OSError):  # the alert tells the peer why
                        self.sock.sendall(self.drain())
                    raise
                out = self.drain()
                if out:
                    self.sock.sendall(out)
                if done:
                    return
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BadTcp("timeout")
                self.sock.settimeout(remaining)
                received = self.sock.recv(RECV_SIZE)
                self.sock.settimeout(None)
                if not received:
                    raise BadTcp("closed")
        except OSError as exc:
            raise bad_tcp(exc) from None

    def feed_handshake(self, received: bytes) -> bool:
        """One step of the TLS handshake, without I/O: ``received`` ciphertext in (``b""`` to
        begin); True once the handshake is done. What TLS has to send meanwhile is ``drain()``'s
        to send; ``BadRpc(("tls", why))`` if TLS refuses (its alert is left for ``drain()``)."""
        with self._lock:
            if received:
                self._incoming.write(received)
            try:
                self._tls.do_handshake()
            except ssl.SSLWantReadError:
                return False
            except ssl.SSLError as exc:
                raise BadRpc(("tls", exc.reason or str(exc))) from None
            return True

    def decrypt(self, received: bytes) -> bytes:
        """``received`` ciphertext in, the plaintext it completes out, without I/O (for a
        handshake driven without blocking; ``drain()`` has what TLS answers). ``BadTcp`` at the
        TLS close or if the records are bad."""
        plaintext = bytearray()
        with self._lock:
            if received:
                self._incoming.write(received)
            while True:
                try:
                    chunk = self._tls.read(RECORD_SIZE)
                except ssl.SSLWantReadError:
                    return bytes(plaintext)
                except ssl.SSLZeroReturnError:
                    raise BadTcp("closed") from None
                except ssl.SSLError as exc:
                    raise bad_tcp(exc) from None
                if not chunk:
                    raise BadTcp("closed")
                plaintext += chunk

    def peer_names(self) -> set[str]:
        with self._lock:
            return certificate_names(self._tls.getpeercert())

    def pending(self) -> bool:
        """Whether plaintext or ciphertext already received waits to be read."""
        with self._lock:
            return bool(self._tls.pending() or self._incoming.pending)

    def version(self) -> str | None:
        return self._tls.version()

    def encrypt(self, data: bytes | memoryview) -> bytes:
        """The ciphertext of ``data``, to send in order (the owner's send lock is held)."""
        with self._lock:
            self._tls.write(data)
            return self._outgoing.read()

    def drain(self) -> bytes:
        """Ciphertext TLS produced by itself (the owner's send lock is held)."""
        with self._lock:
            return self._outgoing.read()

    def sendall(self, data: bytes) -> None:
        """Encrypt and send at once: only before the connection carries frames (handshakes)."""
        self.sock.sendall(self.encrypt(data))

    def recv(self, size: int = RECV_SIZE) -> bytes:
        """Plaintext received (``b""`` at the end of the stream); the reader thread only."""
        buffer = bytearray(size)
        count = self.recv_into(memoryview(buffer))
        return bytes(buffer[:count])

    def recv_into(self, buffer: memoryview) -> int:
        """Receive plaintext into ``buffer``; 0 at the end of the stream. The reader only."""
        while True:
            with self._lock:
                try:
                    # with a buffer, read() returns how many bytes it wrote there
                    count: int | None = self._tls.read(len(buffer), buffer)  # type: ignore[assignment]
                except ssl.SSLWantReadError:
                    count = None
                except ssl.SSLZeroReturnError:
                    return 0
                pending = self._outgoing.pending
            if pending:  # e.g. a TLS 1.3 key update answered: in order with the frames
                if self.on_outgoing is not None:
                    self.on_outgoing()
                else:
                    self.sock.sendall(self.drain())
            if count:
                return count
            chunk = self.sock.recv(RECV_SIZE)
            if not chunk:
                return 0
            with self._lock:
                self._incoming.write(chunk)

    def settimeout(self, value: float | None) -> None:
        self.sock.settimeout(value)
