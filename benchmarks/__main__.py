"""``make bench`` / ``genrpc bench``: genrpc_actors side by side with its peers.

    python -m benchmarks [--rounds N] [--seconds S] [--quick] [--pin [CPU]]
                         [--only WORKLOAD,...] [--peers PEER,...] [--out DIR]

Runs every workload on genrpc_actors, the raw-socket floor (``benchmarks.floor``) and each
installed peer (Pyro5, rpyc, ``multiprocessing.managers``; ``grpc``, gRPC's blocking calls, for
the small calls, the echo and the pipelined calls; ``grpc.aio`` for the asyncio workloads),
server and client in processes of their own, for several rounds; prints one table of medians,
with genrpc_actors' ratios to the floor and to the best peer, the CPU time each side spends per
call, and the verdict on each target, and writes it as Markdown, JSON and a bar chart under
``benchmarks/results/``. The CPU costs are best compared in a pinned run (``--pin``).
The supervisor restart benchmark runs on its own: ``python -m benchmarks.supervisor_restart``.
What metrics cost: ``--only sequential --peers genrpc_actors,genrpc_actors+metrics --pin``
(``genrpc_actors+metrics``: the same nodes, serving Prometheus metrics).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.util
import sys
import time
from pathlib import Path

from benchmarks import report
from benchmarks.runner import PEERS, QUICK, WORKLOADS, Plan, run

RESULTS = Path(__file__).resolve().parent / "results"
# Pyro5 runs each oneway call in a thread of its own (a few thousand a second here).
CASTS_BIG_LIMIT = {"Pyro5": 20_000}


def _names(text: str, known: tuple[str, ...], what: str) -> tuple[str, ...]:
    by_lower = {name.lower(): name for name in known}
    chosen = []
    for name in filter(None, (part.strip() for part in text.split(","))):
        if name.lower() not in by_lower:
            raise argparse.ArgumentTypeError(f"unknown {what} {name!r}: one of {', '.join(known)}")
        chosen.append(by_lower[name.lower()])
    return tuple(chosen)


def parse(argv: list[str] | None) -> tuple[Plan, Path]:
    parser = argparse.ArgumentParser(prog="genrpc bench", description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help="rounds of every workload (default 3)")
    parser.add_argument("--seconds", type=float, help="seconds per measurement (default 2)")
    parser.add_argument("--quick", action="store_true", help="tiny settings: a smoke run")
    parser.add_argument(
        "--pin",
        type=int,
        nargs="?",
        const=0,
        metavar="CPU",
        help="pin every process (client and servers) to one CPU (default 0)",
    )
    parser.add_argument(
        "--only",
        type=lambda t: _names(t, WORKLOADS, "workload"),
        help=f"workloads, comma-separated: {','.join(WORKLOADS)}",
    )
    parser.add_argument(
        "--peers",
        type=lambda t: _names(t, PEERS, "peer"),
        help=f"peers, comma-separated: {','.join(PEERS)} (the floor is always added)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the files go")
    args = parser.parse_args(argv)
    settings: dict[str, object] = dict(QUICK) if args.quick else {}
    if args.rounds is not None:
        settings["rounds"] = args.rounds
    if args.seconds is not None:
        settings["seconds"] = args.seconds
    peers = args.peers or PEERS
    if "floor" not in peers:  # every ratio is to the floor
        peers = ("floor", *peers)
    plan = dataclasses.replace(
        Plan(),
        **settings,  # type: ignore[arg-type]
        pin=args.pin,
        peers=tuple(p for p in PEERS if p in peers),
        workloads=args.only or WORKLOADS,
        casts_big_limit=CASTS_BIG_LIMIT,
    )
    return plan, args.out


def main(argv: list[str] | None = None) -> None:
    plan, out = parse(argv)
    begin = time.monotonic()
    built = report.build(run(plan))
    built["machine"]["wall_seconds"] = round(time.monotonic() - begin, 1)
    print(report.text_table(built))
    stem = "bench-pinned" if plan.pin is not None else "bench"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.md").write_text(report.markdown(built))
    (out / f"{stem}.json").write_text(report.to_json(built))
    written = [f"{stem}.md", f"{stem}.json"]
    if importlib.util.find_spec("matplotlib") is None:
        print("no chart: matplotlib is not installed (pip install -e '.[bench]')", file=sys.stderr)
    else:
        from benchmarks import chart  # noqa: PLC0415 - matplotlib only once there is a table

        written.append(chart.draw(built, out / f"{stem}.png").name)
    seconds = built["machine"]["wall_seconds"]
    print(f"\n{seconds:.1f} s; written in {out}: {', '.join(written)}", file=sys.stderr)


if __name__ == "__main__":
    main()
