"""The server end of a connection: one per accepted socket, read by the node's workers.

``_connection`` authenticates the peer, reads its requests and runs them through the execution
layer, and writes the replies through the outbox.
"""
