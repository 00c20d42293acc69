"""``make integration NODES=3``: build the lab, run ``integration/`` with pytest on the runner
host, and always tear the lab down (also on failure or Ctrl-C).

Needs root for network namespaces; without it the nodes get distinct loopback addresses and the
link and rate-limit tests are skipped, as this script says when it starts.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from integration.lab import Lab, LoopbackLab, in_host


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=int(os.environ.get("NODES", "3")))
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="run the soak, not pytest")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args(argv)
    root = os.geteuid() == 0
    lab: Lab | LoopbackLab = Lab(args.nodes) if root else LoopbackLab(args.nodes)
    if not root:
        print("not root: nodes get loopback addresses; link and rate-limit tests are skipped")

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(signum)

    signal.signal(signal.SIGTERM, interrupted)
    with tempfile.TemporaryDirectory(prefix="genrpc-lab-") as folder:
        info_path = Path(folder) / "lab.json"
        try:
            info = lab.up()
            info.save(info_path)
            print(
                f"lab {info.kind}: runner {info.runner.address}, "
                f"nodes {', '.join(h.name for h in info.hosts)}",
                flush=True,
            )
            if args.soak is not None:
                inner = ["-m", "integration.soak", "--seconds", str(args.soak)]
            else:
                inner = ["-m", "pytest", "-q", "integration", "-p", "no:cacheprovider"]
                inner += args.pytest_args
            command = in_host(info.runner, [sys.executable, *inner])
            env = {**os.environ, "INTEGRATION_LAB": str(info_path)}
            child = subprocess.Popen(command, env=env)
            try:
                return child.wait()
            except KeyboardInterrupt:
                _interrupt(child)
                raise
        except KeyboardInterrupt:
            print("interrupted: tearing the lab down", flush=True)
            return 130
        finally:
            lab.down()


def _interrupt(child: subprocess.Popen[bytes]) -> None:
    """Let the inner run (pytest or the soak) stop its node processes, then make sure it ended:
    SIGKILL at once would leave its nodes running in a lab about to be torn down."""
    try:
        child.wait(2)  # a Ctrl-C reached it as well
    except subprocess.TimeoutExpired:
        child.send_signal(signal.SIGTERM)  # turned into KeyboardInterrupt there
        try:
            child.wait(30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


if __name__ == "__main__":
    sys.exit(main())
