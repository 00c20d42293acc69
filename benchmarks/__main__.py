"""Run every benchmark in turn (``make bench``, ``genrpc bench``)."""

from __future__ import annotations

from benchmarks import floor, node_calls, supervisor_restart


def main(argv: list[str] | None = None) -> None:
    supervisor_restart.main([])
    node_calls.main(argv or [])
    floor.main([])


if __name__ == "__main__":
    main()
