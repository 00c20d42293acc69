"""The actors of a node's tree: listeners, acceptors, clients and the dispatcher.

The listener and the client each own a thread that does their blocking I/O (the listener's
loop, which accepts and runs every handshake not yet over; a client connection's reader) and
are linked to it the simple way: when the thread ends, it kills its actor, and when the actor
stops, it closes the socket, which ends the thread. An acceptor is started for an authenticated
connection only, whose reading is a role in the worker pool. Requests do not pass through
these actors' mailboxes; they only create, own and clean up connections. None of them sees the
node: each is given what it needs (a table, the server settings, a callback that starts a child).
"""
