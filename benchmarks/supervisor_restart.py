"""How long a one_for_one supervisor takes to replace a crashed child.

Measured from the moment the crash is triggered (a ``tell`` whose handler raises) until the
supervisor hands out the new child's ref: failure detection, the restart decision, a new actor
thread, its ``on_start``, and the supervisor's bookkeeping.

    python -m benchmarks.supervisor_restart [--rounds N]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import threading
import time
from typing import Any

import supervision as sv


class Child(sv.SupervisedActor):
    def __init__(self, started: threading.Event) -> None:
        super().__init__()
        self.started = started

    def on_start(self) -> None:
        self.started.set()

    def on_receive(self, message: Any) -> Any:
        raise RuntimeError(f"crash on {message!r}")


def measure(rounds: int) -> list[float]:
    started = threading.Event()
    sup = sv.start_supervisor(
        [sv.ChildSpec("child", Child, args=(started,))], intensity=rounds + 1, period=3600.0
    )
    samples = []
    try:
        for _ in range(rounds):
            old = sup.child("child")
            assert old is not None
            started.clear()
            begin = time.perf_counter()
            old.tell("crash")
            started.wait(5.0)
            while (ref := sup.child("child")) is None or ref is old:
                pass
            samples.append(time.perf_counter() - begin)
    finally:
        sup.stop()
    return samples


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=500)
    args = parser.parse_args(argv)
    logging.getLogger("supervision").setLevel(logging.CRITICAL)  # a crash per round is the point
    samples = sorted(measure(args.rounds))
    ms = [s * 1000 for s in samples]
    print(
        f"supervisor restart (one_for_one, {len(ms)} rounds): "
        f"median {statistics.median(ms):.3f} ms, p90 {ms[int(len(ms) * 0.9)]:.3f} ms, "
        f"max {ms[-1]:.3f} ms"
    )


if __name__ == "__main__":
    main()
