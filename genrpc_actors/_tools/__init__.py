"""The tools: the ``genrpc`` command, the demo, the shells' setup and certificates.

They use the library as a user would, through ``genrpc_actors``; nothing below imports them.
"""
