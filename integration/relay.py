"""A slow link in user space: a TCP relay that delays every byte by a fixed time each way.

The kernel here has no ``sch_netem``, so ``tc`` cannot delay packets; this relay stands in for
it. It runs on a node's host, listens there on its own port and forwards each connection to the
node's listener, holding what it reads for ``--delay`` seconds before passing it on, in order,
in both directions. With ``--stall-every E --stall-for F`` it also passes nothing at all for
``F`` seconds out of every ``E`` (counted from its start), as a link that hangs now and then.

It prints ``relay listening on ADDRESS:PORT`` once it accepts connections, then
``accepted ADDRESS:PORT`` for each connection, and runs until SIGTERM or SIGINT::

    python -m integration.relay --listen ADDRESS --to ADDRESS:PORT --delay 0.05
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from dataclasses import dataclass

__all__ = ["Link", "main"]

CHUNK = 64 * 1024


@dataclass(frozen=True)
class Link:
    """How the relay slows the link: ``delay`` each way, and a stall of ``stall_for`` seconds
    every ``stall_every`` seconds (none when ``stall_every`` is 0)."""

    delay: float
    stall_every: float = 0.0
    stall_for: float = 0.0

    def stalled_until(self, started: float, now: float) -> float:
        """The end of the stall ``now`` falls in (``now`` itself when it falls in none)."""
        if self.stall_every <= 0 or self.stall_for <= 0:
            return now
        elapsed = now - started
        window = elapsed // self.stall_every
        window_start = window * self.stall_every
        if window >= 1 and elapsed - window_start < self.stall_for:
            return started + window_start + self.stall_for
        return now


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    link: Link,
    started: float,
) -> None:
    """Copy ``reader`` to ``writer``, each chunk ``link.delay`` after it was read."""
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def read() -> None:
        try:
            while chunk := await reader.read(CHUNK):
                queue.put_nowait((time.monotonic() + link.delay, chunk))
        except OSError:
            pass
        queue.put_nowait((time.monotonic() + link.delay, b""))  # the end, delayed as well

    reading = asyncio.create_task(read())
    try:
        while True:
            due, chunk = await queue.get()
            due = link.stalled_until(started, due)
            # the delay is what this process is for: sleeping is its job, not a wait on an event
            while (now := time.monotonic()) < due:
                await asyncio.sleep(due - now)
                due = link.stalled_until(started, due)
            if not chunk:
                break
            writer.write(chunk)
            await writer.drain()
    except OSError:
        pass
    finally:
        reading.cancel()
        writer.close()


async def _serve(listen: str, target: tuple[str, int], link: Link) -> None:
    started = time.monotonic()

    async def relay(client_reader: asyncio.StreamReader, client: asyncio.StreamWriter) -> None:
        peer = client.get_extra_info("peername")
        print(f"accepted {peer[0]}:{peer[1]}", flush=True)
        try:
            node_reader, node = await asyncio.open_connection(*target)
        except OSError:
            client.close()
            return
        await asyncio.gather(
            _pump(client_reader, node, link, started),
            _pump(node_reader, client, link, started),
        )

    server = await asyncio.start_server(relay, listen, 0)
    address, port = server.sockets[0].getsockname()[:2]
    print(f"relay listening on {address}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        await stop.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="the address to listen on (any port)")
    parser.add_argument("--to", required=True, metavar="ADDRESS:PORT", help="the node's listener")
    parser.add_argument("--delay", type=float, default=0.05, help="seconds, each way")
    parser.add_argument("--stall-every", type=float, default=0.0, help="seconds (0: never)")
    parser.add_argument("--stall-for", type=float, default=0.0, help="seconds")
    args = parser.parse_args(argv)
    host, _, port = args.to.rpartition(":")
    link = Link(args.delay, args.stall_every, args.stall_for)
    asyncio.run(_serve(args.listen, (host, int(port)), link))
    return 0


if __name__ == "__main__":
    sys.exit(main())
