"""The actors of a node's tree: listeners, acceptors, clients and the dispatcher.

Each owns a thread that does its blocking I/O (the listener's accept loop, a connection's reader)
and is linked to it the simple way: when the thread ends, it kills its actor, and when the actor
stops, it closes the socket, which ends the thread. Requests do not pass through these actors'
mailboxes; they only create, own and clean up connections. None of them sees the node: each is
given what it needs (a table, the server settings, a callback that starts a child).
"""
