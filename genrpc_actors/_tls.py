"""The ``ssl`` driver: TLS contexts, a sans-IO TLS transport, and node-name checks.

OpenSSL must not see one connection used by two threads at once, and a node's connection is
read by one thread while callers write to it. So TLS runs over memory BIOs (``ssl.SSLObject``):
the socket carries ciphertext, every use of the TLS object is under one short lock, and every
drain of its outgoing buffer happens under the connection's send lock, which keeps TLS records in
order on the wire.

A node's certificate names it as ``genrpc:name@host`` in its subjectAltName (or as its subject's
common name): the client checks that the server's certificate names the node it asked for, the
server checks that the client's names the node the client claims in the handshake.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

from genrpc_actors._errors import BadRpc, BadTcp, ConfigError

__all__ = ["TlsTransport", "certificate_names", "client_context", "server_context"]

RECV_SIZE = 256 * 1024
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
        self.send_lock: threading.Lock | None = None  # the owner's, set before traffic starts

    def handshake(self, timeout: float) -> None:
        """Run the TLS handshake (the only time this thread sends without the send lock)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                with self._lock:
                    self._tls.do_handshake()
                    out = self._outgoing.read()
                if out:
                    self.sock.sendall(out)
                return
            except ssl.SSLWantReadError:
                with self._lock:
                    out = self._outgoing.read()
                if out:
                    self.sock.sendall(out)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise BadTcp("timeout") from None
                self.sock.settimeout(remaining)
                data = self.sock.recv(RECV_SIZE)
                self.sock.settimeout(None)
                if not data:
                    raise BadTcp("closed") from None
                with self._lock:
                    self._incoming.write(data)
            except ssl.SSLError as exc:
                raise BadRpc(("tls", exc.reason or str(exc))) from None

    def peer_names(self) -> set[str]:
        with self._lock:
            return certificate_names(self._tls.getpeercert())

    def pending(self) -> bool:
        """Whether plaintext or ciphertext already received waits to be read."""
        with self._lock:
            return bool(self._tls.pending() or self._incoming.pending)

    def version(self) -> str | None:
        return self._tls.version()

    def sendall(self, data: bytes) -> None:
        """Encrypt and send; the caller holds the send lock (or no other thread sends yet)."""
        with self._lock:
            self._tls.write(data)
            out = self._outgoing.read()
        self.sock.sendall(out)

    def recv(self, size: int = RECV_SIZE) -> bytes:
        """Plaintext received (``b""`` at the end of the stream); the reader thread only."""
        while True:
            with self._lock:
                try:
                    data = self._tls.read(size)
                except ssl.SSLWantReadError:
                    data = None
                except ssl.SSLZeroReturnError:
                    return b""
                pending = self._outgoing.pending
            if pending:  # e.g. a TLS 1.3 key update answered: in order with the writers
                self._flush()
            if data:
                return data
            chunk = self.sock.recv(RECV_SIZE)
            if not chunk:
                return b""
            with self._lock:
                self._incoming.write(chunk)

    def _flush(self) -> None:
        lock = self.send_lock
        if lock is None:
            with self._lock:
                out = self._outgoing.read()
            self.sock.sendall(out)
            return
        with lock:  # held from draining to sending: records leave in the order they were made
            with self._lock:
                out = self._outgoing.read()
            if out:
                self.sock.sendall(out)

    def settimeout(self, value: float | None) -> None:
        self.sock.settimeout(value)
