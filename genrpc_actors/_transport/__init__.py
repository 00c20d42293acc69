"""The drivers: sockets and TLS, and everything that touches them below the two ends.

``_tcp`` connects, listens and sets socket options; ``_tls`` makes TLS contexts and runs TLS over
memory BIOs; ``_reader`` receives into a frame decoder; ``_outbox`` sends in order and in
batches; ``_handshake_driver`` runs either end's handshake machine over a stream; ``_reasons`` is
the one table that turns socket and TLS errors into gen_rpc's reasons. Nothing here knows what a
request is; whatever fails leaves as ``BadTcp`` or ``BadRpc``.
"""
