"""``python -m genrpc_actors``: the ``genrpc`` command (see ``genrpc_actors._tools._cli``)."""

from __future__ import annotations

import sys

from genrpc_actors._tools._cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
