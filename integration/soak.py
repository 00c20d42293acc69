"""``make soak SECONDS=120``: mixed traffic between every node while faults come and go.

Callers on the runner host make calls, casts, multicalls and broadcasts to every node while a
fault schedule kills and restarts nodes and (on network namespaces) cuts and heals links. At the
end it prints what happened: calls made, succeeded, failed by reason, hung (an outcome later than
its timeout plus a margin: must be 0), executed twice (must be 0), the nodes' threads and file
descriptors at the start and the end, and the worst latency. Exit status 1 if any call hung or ran
twice.
"""

from __future__ import annotations

import argparse
import collections
import itertools
import os
import random
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil

from genrpc_actors import RpcError
from integration.lab import LabInfo, link
from integration.nodes import TCP, NodeProcess, start_runner, stop_on_sigterm

MARGIN = 2.0  # an outcome later than timeout + MARGIN counts as hung


def _resources(nodes: dict[str, NodeProcess]) -> tuple[int, int]:
    threads = fds = 0
    for node in nodes.values():
        try:
            process = psutil.Process(node.pid)
            threads += process.num_threads()
            fds += process.num_fds()
        except psutil.Error:
            pass
    return threads, fds


def soak(lab: LabInfo, seconds: float, callers: int = 6) -> int:  # noqa: PLR0912, PLR0915 - a scenario
    journal_dir = Path(tempfile.mkdtemp(prefix="genrpc-soak-"))
    nodes = {host.name: NodeProcess(host).start() for host in lab.hosts}
    runner = start_runner(lab, TCP, connect_timeout=1.0)
    try:
        names = sorted(nodes)
        for name in names:  # warm up: every node reachable, and its resources counted connected
            runner.call(name, "os", "getpid", timeout=5)
        before = _resources(nodes)
        counts: collections.Counter[str] = collections.Counter()
        returned: dict[int, str] = {}
        worst = 0.0
        lock = threading.Lock()
        ids = itertools.count()
        stop = threading.Event()

        def record(path: str, call_id: int) -> int:  # shipped by value to the nodes
            with open(path, "a") as stream:
                stream.write(f"{call_id}\n")
            return call_id

        def caller(seed: int) -> None:
            nonlocal worst
            rng = random.Random(seed)
            while not stop.is_set():
                name, kind, timeout = rng.choice(names), rng.random(), rng.choice((0.2, 1.0, 3.0))
                call_id = next(ids)
                begin = time.monotonic()
                try:
                    if kind < 0.6:
                        journal = str(journal_dir / f"{name}.log")
                        runner.call(name, record, args=(journal, call_id), timeout=timeout)
                        with lock:
                            returned[call_id] = name
                    elif kind < 0.75:
                        runner.cast(name, "os", "getpid")
                    elif kind < 0.9:
                        runner.multicall(names, "genrpc_actors", "node", timeout=timeout)
                    else:
                        runner.sbcast(names, "nobody", "hi", timeout=timeout)
                    outcome = "ok"
                except RpcError as exc:
                    outcome = f"{type(exc).__name__}({exc.reason!r})"
                elapsed = time.monotonic() - begin
                with lock:
                    counts[outcome] += 1
                    worst = max(worst, elapsed)
                    if elapsed > timeout + MARGIN:
                        counts["HUNG"] += 1

        threads = [threading.Thread(target=caller, args=(i,), daemon=True) for i in range(callers)]
        for thread in threads:
            thread.start()
        rng = random.Random(7)
        faults: collections.Counter[str] = collections.Counter()
        deadline = time.monotonic() + seconds
        try:
            while time.monotonic() < deadline:
                stop.wait(min(3.0, max(0.0, deadline - time.monotonic())))
                if time.monotonic() >= deadline:
                    break
                victim = nodes[rng.choice(names)]
                if lab.kind == "netns" and rng.random() < 0.5:
                    link(lab, victim.host, up=False)
                    stop.wait(1.5)
                    link(lab, victim.host, up=True)
                    faults["link cut 1.5 s"] += 1
                else:
                    victim.kill()
                    stop.wait(0.5)
                    victim.start()
                    faults["kill -9 + restart"] += 1
        finally:
            stop.set()
            for thread in threads:
                thread.join(10)
            hung_threads = sum(thread.is_alive() for thread in threads)
        time.sleep(1.0)  # let the last connections settle before counting resources
        after = _resources(nodes)
        runs: collections.Counter[int] = collections.Counter()
        for log in journal_dir.glob("*.log"):
            runs.update(int(line) for line in log.read_text().split())
        twice = sum(1 for count in runs.values() if count > 1)
        lost = sum(1 for call_id in returned if runs[call_id] == 0)
        total = sum(v for k, v in counts.items() if k != "HUNG")
        print(f"\nsoak: {seconds:.0f} s, {len(names)} nodes ({lab.kind}), {callers} callers")
        print(f"faults: {dict(faults)}")
        print(f"{'operations made':<36}{total:>10,}")
        for outcome, count in counts.most_common():
            if outcome != "HUNG":
                print(f"  {outcome:<34}{count:>10,}")
        print(f"{'hung (must be 0)':<36}{counts['HUNG'] + hung_threads:>10,}")
        print(f"{'executed twice (must be 0)':<36}{twice:>10,}")
        print(f"{'returned but never ran (must be 0)':<36}{lost:>10,}")
        print(f"{'node threads before / after':<36}{before[0]:>5} / {after[0]}")
        print(f"{'node file descriptors before / after':<36}{before[1]:>5} / {after[1]}")
        print(f"{'worst latency':<36}{worst:>9.2f} s")
        return 1 if counts["HUNG"] or hung_threads or twice or lost else 0
    finally:  # also when interrupted: no node process outlives the soak
        runner.stop()
        for node in nodes.values():
            node.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0)
    args = parser.parse_args(argv)
    stop_on_sigterm()
    return soak(LabInfo.load(Path(os.environ["INTEGRATION_LAB"])), args.seconds)


if __name__ == "__main__":
    sys.exit(main())
