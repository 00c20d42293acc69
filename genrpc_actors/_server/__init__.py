"""The server end of a connection: one per accepted socket, read by the node's workers.

``_handshakes`` runs the handshakes of a listener's connections, all in one thread, until each
has authenticated; ``_connection`` then reads its requests and runs them through the execution
layer, and writes the replies through the outbox.
"""
