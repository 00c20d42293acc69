"""The client end of a connection: one per ``(node, key)``, used by callers directly.

``_connecting`` makes the connection (TCP, TLS, the handshake); ``_pending`` holds the calls
that await replies; ``_connection`` is the connection itself (sending through the outbox, the
reading role that callers share, the connection's own thread and inactivity); ``_reply`` is the
one-shot slot a caller waits on, and the ``AsyncKey`` and ``Value`` of the public API;
``_table`` is the node's table of outgoing connections.
"""
