"""The benchmark report: medians, ratios, target verdicts, the table's shapes; and one smoke run."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import report, runner
from benchmarks.chart import bars

TOP = Path(__file__).resolve().parents[2]

SETTINGS = {
    "rounds": 3,
    "seconds": 2.0,
    "pin": None,
    "casts_big": 100_000,
    "casts_small": 10_000,
    "connections": 1000,
}


def figures(scale: float, **extra: float) -> dict[str, float]:
    base = {
        "sequential.calls_per_s": 10_000 * scale,
        "sequential.p50_us": 100 / scale,
        "callers8.calls_per_s": 20_000 * scale,
        "echo.mb_per_s": 500 * scale,
        "casts.big_count": 100_000,
        "casts.big_msgs_per_s": 100_000 * scale,
        "casts.small_count": 10_000,
        "casts.small_msgs_per_s": 110_000 * scale,
        "casts.cost_ratio": 1.1,
        "isolation.ratio": 3.0,
    }
    return {**base, **extra}


def results(rounds: list[dict[str, dict[str, float | str]]] | None = None) -> dict:
    one = {
        "floor": figures(1.0),
        "genrpc_actors": figures(
            0.95,
            **{
                "isolation.ratio": 1.5,
                "connections.count": 1000,
                "connections.worked": 1000,
                "connections.client_rss_kb": 120.0,
                "connections.server_rss_kb": 250.0,
            },
        ),
        "Pyro5": figures(0.5, **{"casts.big_count": 20_000}),
        "rpyc": figures(0.6),
    }
    return {
        "settings": SETTINGS,
        "machine": {"cpus": 2, "python": "3.11.7"},
        "peers": ["floor", "genrpc_actors", "Pyro5", "rpyc"],
        "skipped": {"managers": "not here"},
        "rounds": rounds or [one],
    }


def test_medians_take_the_middle_round_and_skip_errors_and_text():
    rounds = [
        {"floor": {"sequential.calls_per_s": v, "echo.error": "boom"}} for v in (1.0, 9.0, 3.0)
    ]
    assert report.medians(rounds) == {"floor": {"sequential.calls_per_s": 3.0}}
    assert report.errors(rounds) == {"floor": ["echo: boom"]}


def test_ratios_are_to_the_floor_and_to_the_best_python_peer():
    built = report.build(results())
    seq = built["ratios"]["genrpc_actors"]["sequential.calls_per_s"]
    assert seq["floor"] == pytest.approx(0.95)
    assert seq["best_peer"] == pytest.approx(0.95 / 0.6)  # rpyc is the faster peer
    # for a latency the best peer is the lowest one
    p50 = built["ratios"]["genrpc_actors"]["sequential.p50_us"]
    assert p50["best_peer"] == pytest.approx((100 / 0.95) / (100 / 0.6))
    assert "floor" not in built["ratios"]
    assert report.best_peer(built["medians"], "sequential.calls_per_s", True)[0] == "rpyc"
    assert report.ratio(1.0, None) is None
    assert report.ratio(1.0, 0.0) is None


@pytest.mark.parametrize(
    ("measured", "goal", "at_least", "expected"),
    [
        (0.95, 0.9, True, (True, "met")),
        (0.45, 0.9, True, (False, "missed by 50%")),
        (3.0, 2.0, False, (False, "missed by 50%")),
        (2.0, 2.0, False, (True, "met")),
        (None, 2.0, False, (None, "n/a (not measured)")),
    ],
)
def test_verdicts(measured, goal, at_least, expected):
    assert report.verdict(measured, goal, at_least) == expected


def test_targets_each_have_a_verdict():
    verdicts = {t["target"]: t for t in report.build(results())["targets"]}
    assert verdicts["sequential calls/s >= 0.9x floor"]["verdict"] == "met"
    assert verdicts["sequential calls/s >= 1.5x Pyro5"]["verdict"] == "met"  # 1.9x
    assert verdicts["sequential calls/s >= 1.5x rpyc"]["shown"] == "1.58x"
    assert verdicts["8 callers calls/s >= 2x managers"]["met"] is None  # not measured
    assert verdicts["500 KB echo MB/s >= 1.2x floor"]["verdict"] == "missed by 21%"
    assert verdicts["100k-cast burst msgs/s >= 0.5x floor"]["met"] is True
    assert verdicts["casts linear: cost/msg at 100k <= 1.5x at 10k"]["met"] is True
    assert verdicts["isolation: busy p99 / idle p99 <= 2"]["met"] is True
    assert verdicts["1,000 keyed connections all work"]["shown"] == "1,000/1,000"
    rss = verdicts["RSS per connection < 200 KB (each side)"]  # the server's side is over
    assert (rss["shown"], rss["verdict"]) == ("250.0 KB", "missed by 25%")


def test_the_table_has_a_column_per_peer_and_says_what_was_left_out():
    built = report.build(results())
    cells = report.grid(built)
    assert cells[0] == [
        "figure",
        "floor",
        "genrpc_actors",
        "Pyro5",
        "rpyc",
        "/ floor",
        "/ best peer",
    ]
    assert all(len(row) == len(cells[0]) for row in cells)
    by_label = {row[0]: row for row in cells}
    assert by_label["sequential: calls/s"][1:3] == ["10,000", "9,500"]
    assert by_label["sequential: calls/s"][-1] == "1.58x (rpyc)"
    assert by_label["cast burst 100k: msgs/s"][3] == "50,000 (n=20k)"  # Pyro5's smaller burst
    assert by_label["1,000 connections: worked"][1:3] == ["n/a", "1,000/1,000"]
    text = report.text_table(built)
    assert text.startswith("genrpc_actors side by side: medians of 1 round(s)")
    assert "skipped managers: not here" in text
    assert "targets (genrpc_actors):" in text
    assert "load average" not in text
    built["machine"]["load_before"] = 5.0
    assert "load average 5.0 at the start" in report.text_table(built)


def test_markdown_and_json_shapes():
    built = report.build(results())
    md = report.markdown(built)
    table = [line for line in md.splitlines() if line.startswith("|")]
    assert table[0].count("|") == table[1].count("|") == 8  # 7 columns
    assert table[1].startswith("|:---|---:|")
    assert "## Targets (genrpc_actors)" in md
    data = json.loads(report.to_json(built))
    assert set(data) >= {"settings", "machine", "medians", "ratios", "targets", "rounds"}
    assert data["medians"]["floor"]["sequential.calls_per_s"] == 10_000


def test_chart_bars_are_throughputs_relative_to_the_floor():
    labels, series = bars(report.build(results()))
    assert "sequential\ncalls/s" in labels
    assert set(series) == {"genrpc_actors", "Pyro5", "rpyc"}
    assert series["rpyc"][labels.index("sequential\ncalls/s")] == pytest.approx(0.6)


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """``python -m <args>`` from the repository's top, its output captured (within 50 s)."""
    command = [sys.executable, "-m", *args]
    return subprocess.run(command, cwd=TOP, capture_output=True, text=True, timeout=50, check=False)


@pytest.mark.slow
def test_quick_run_of_the_floor_and_genrpc_actors(tmp_path):
    done = run_module(
        "benchmarks", "--quick", "--peers", "floor,genrpc_actors", "--out", f"{tmp_path}"
    )
    assert done.returncode == 0, done.stderr
    assert "targets (genrpc_actors):" in done.stdout
    assert "failed" not in done.stdout
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["peers"] == ["floor", "genrpc_actors"]
    assert data["medians"]["genrpc_actors"]["connections.worked"] == 50
    for peer in data["peers"]:  # the pipelined workloads and the CPU costs, on both
        figures = data["medians"][peer]
        assert figures["pipelined.calls_per_s"] > 0
        assert figures["incoming.calls_per_s"] > 0
        assert figures["incoming.processes"] == 4
        for key in ("sequential", "callers8", "pipelined", "incoming"):
            assert figures[f"{key}.server_cpu_us"] > 0
            assert figures[f"{key}.client_cpu_us"] > 0
    assert (tmp_path / "bench.md").exists()


def asyncio_results(genrpc: dict[str, float], grpc: dict[str, float] | None) -> dict:
    rounds = [{"genrpc_actors": genrpc, **({"grpc.aio": grpc} if grpc else {})}]
    return {
        "settings": {**SETTINGS, "fanout": 10_000},
        "machine": {"cpus": 2, "python": "3.11.7"},
        "peers": ["genrpc_actors", *(["grpc.aio"] if grpc else [])],
        "skipped": {} if grpc else {"grpc.aio": "grpc is not installed"},
        "rounds": rounds,
    }


GENRPC_ASYNC = {
    "asyncio_fanout.count": 10_000,
    "asyncio_fanout.completed": 10_000,
    "asyncio_fanout.wall_s": 1.2,
    "asyncio_fanout.client_rss_mb": 35.0,
    "asyncio_fanout.server_rss_mb": 5.0,
    "asyncio_fanout.client_threads": 0,
    "asyncio_fanout.server_threads": 30,
    "asyncio_fanout.server_threads_per_call": 0.003,
    "asyncio_sequential.calls_per_s": 6000.0,
    "asyncio_sequential.p50_us": 160.0,
    "asyncio_sequential.blocking_calls_per_s": 12_000.0,
    "asyncio_sequential.ratio_to_blocking": 0.5,
}
GRPC_ASYNC = {
    "asyncio_fanout.count": 10_000,
    "asyncio_fanout.completed": 10_000,
    "asyncio_fanout.wall_s": 2.4,
    "asyncio_fanout.client_rss_mb": 240.0,
    "asyncio_fanout.server_threads": 0,
    "asyncio_sequential.calls_per_s": 2000.0,
    "asyncio_sequential.p50_us": 500.0,
}


def test_asyncio_targets_compare_with_grpc_aio_and_with_blocking_calls():
    verdicts = {
        t["target"]: t for t in report.build(asyncio_results(GENRPC_ASYNC, GRPC_ASYNC))["targets"]
    }
    done = verdicts["10k awaited calls at once: all complete"]
    assert (done["shown"], done["met"]) == ("10,000/10,000", True)
    assert verdicts["10k awaited calls at once: wall <= 2 s"]["shown"] == "1.20 s"
    versus = verdicts["10k awaited calls at once: wall <= 1x grpc.aio"]
    assert (versus["shown"], versus["met"]) == ("0.50x", True)  # half grpc.aio's time
    threads = verdicts["10k awaited calls: server threads added <= 0.1% of them"]
    assert (threads["shown"], threads["verdict"]) == ("0.30%", "missed by 200%")
    ratio = verdicts["awaited calls/s >= 0.8x blocking calls/s"]
    assert (ratio["shown"], ratio["verdict"]) == ("0.50x", "missed by 38%")
    assert verdicts["awaited calls/s >= 1x grpc.aio"]["shown"] == "3.00x"
    # without the peer, its comparisons are not measured; the rest stands
    alone = {t["target"]: t for t in report.build(asyncio_results(GENRPC_ASYNC, None))["targets"]}
    assert alone["awaited calls/s >= 1x grpc.aio"]["met"] is None
    assert alone["10k awaited calls at once: wall <= 2 s"]["met"] is True


def test_asyncio_rows_compare_with_grpc_aio_as_the_best_peer():
    built = report.build(asyncio_results(GENRPC_ASYNC, GRPC_ASYNC))
    cells = report.grid(built)
    assert cells[0] == ["figure", "genrpc_actors", "grpc.aio", "/ floor", "/ best peer"]
    by_label = {row[0].strip(): row for row in cells}
    assert by_label["10,000 awaited calls at once (10 ms naps): done"][1:3] == [
        "10,000/10,000",
        "10,000/10,000",
    ]
    assert by_label["wall time, s"][1:] == ["1.20", "2.40", "", "0.50x (grpc.aio)"]
    assert by_label["awaited calls, one at a time: calls/s"][-1] == "3.00x (grpc.aio)"
    assert by_label["awaited / blocking calls/s"][1:3] == ["0.50", "n/a"]


def test_only_the_peers_with_a_chosen_workload_are_started():
    both = ("asyncio_fanout", "asyncio_sequential")
    assert runner.measured_peers(runner.Plan(workloads=both)) == ("genrpc_actors", "grpc.aio")
    assert "grpc.aio" not in runner.measured_peers(runner.Plan(workloads=("sequential",)))
    assert runner.measured_peers(runner.Plan(workloads=("kill_latency",))) == (
        "genrpc_actors+processes",
    )


def test_the_pipelined_workloads_run_where_there_is_pipelining():
    assert runner.measured_peers(runner.Plan(workloads=("pipelined",))) == (
        "floor",
        "genrpc_actors",
        "rpyc",
        "grpc",
    )
    assert runner.measured_peers(runner.Plan(workloads=("incoming",))) == (
        "floor",
        "genrpc_actors",
    )
    # blocking gRPC: small calls, echo and pipelined calls, never a cast (no call lacks an answer)
    grpc = runner.measured_peers(runner.Plan(workloads=("sequential", "callers64", "echo")))
    assert "grpc" in grpc
    assert "grpc" not in runner.measured_peers(runner.Plan(workloads=("casts", "isolation")))


def cpu_results() -> dict:
    """The pipelined and incoming workloads, the CPU costs per call, managers and grpc."""
    one = {
        "floor": {
            "sequential.calls_per_s": 20_000,
            "sequential.client_cpu_us": 20.0,
            "sequential.server_cpu_us": 15.0,
            "pipelined.depth": 1000,
            "pipelined.calls_per_s": 100_000,
            "pipelined.client_cpu_us": 4.0,
            "pipelined.server_cpu_us": 3.0,
            "incoming.processes": 4,
            "incoming.calls_per_s": 200_000,
            "incoming.server_cpu_us": 2.5,
            "incoming.client_cpu_us": 3.0,
        },
        "genrpc_actors": {
            "sequential.calls_per_s": 15_000,
            "sequential.client_cpu_us": 40.0,
            "sequential.server_cpu_us": 30.0,
            "callers8.calls_per_s": 25_000,
            "pipelined.depth": 1000,
            "pipelined.calls_per_s": 40_000,
            "pipelined.client_cpu_us": 10.0,
            "pipelined.server_cpu_us": 8.0,
            "incoming.processes": 4,
            "incoming.calls_per_s": 80_000,
            "incoming.server_cpu_us": 6.0,
            "incoming.client_cpu_us": 9.0,
        },
        "managers": {"sequential.calls_per_s": 16_000, "callers8.calls_per_s": 20_000},
        "rpyc": {"sequential.calls_per_s": 7000, "pipelined.calls_per_s": 12_000},
        "grpc": {
            "sequential.calls_per_s": 2500,
            "pipelined.calls_per_s": 5000,
            "pipelined.client_cpu_us": 150.0,
        },
    }
    return {
        "settings": {**SETTINGS, "pipeline_depth": 1000, "incoming_processes": 4},
        "machine": {"cpus": 2, "python": "3.11.7"},
        "peers": list(one),
        "skipped": {},
        "rounds": [one],
    }


def test_targets_of_the_pipelined_workloads_and_of_the_cpu_cost():
    verdicts = {t["target"]: t for t in report.build(cpu_results())["targets"]}
    managers = verdicts["sequential calls/s >= 1x managers"]
    assert (managers["shown"], managers["verdict"]) == ("0.94x", "missed by 6%")
    assert verdicts["sequential calls/s >= 2x grpc"]["shown"] == "6.00x"
    assert verdicts["sequential calls/s >= 2x rpyc"]["met"] is True  # 2.14x
    assert verdicts["sequential calls/s >= 2x Pyro5"]["met"] is None  # not measured
    assert verdicts["8 callers calls/s >= 1x managers"]["met"] is True
    pipelined = verdicts["pipelined calls/s (1k in flight) >= 0.3x floor"]
    assert (pipelined["shown"], pipelined["met"]) == ("0.40x", True)
    cpu = verdicts["4 processes pipelining in: server CPU per call <= 5 us"]
    assert (cpu["shown"], cpu["verdict"]) == ("6.0 us", "missed by 20%")


def test_cpu_costs_are_rows_under_their_workload():
    built = report.build(cpu_results())
    cells = report.grid(built)
    assert cells[0] == [
        "figure",
        *("floor", "genrpc_actors", "managers", "rpyc", "grpc"),
        *("/ floor", "/ best peer"),
    ]
    labels = [row[0] for row in cells]
    start = labels.index("pipelined, 1,000 in flight: calls/s")
    assert cells[start][1:] == [
        "100,000",
        "40,000",
        "n/a",
        "12,000",
        "5,000",
        "0.40x",
        "3.33x (rpyc)",
    ]
    client, server = cells[start + 1], cells[start + 2]
    assert client == [
        "  CPU us per call, client",
        "4.0",
        "10.0",
        "n/a",
        "n/a",
        "150.0",
        "2.50x",
        "0.07x (grpc)",
    ]
    assert server[:3] == ["  CPU us per call, server", "3.0", "8.0"]
    assert server[-2:] == ["2.67x", ""]  # no peer measured it
    start = labels.index("4 processes pipelining into one server: calls/s")
    assert [row[0].strip() for row in cells[start + 1 : start + 3]] == [
        "CPU us per call, server",
        "CPU us per call, clients",
    ]
    assert labels[labels.index("sequential: calls/s") + 1] == "  CPU us per call, client"
    chart_labels, _ = bars(built)
    assert "pipelined, 1,000\nin flight\ncalls/s" in chart_labels
    # wrapped, so that a label does not run into its neighbours' under the bars
    assert max(len(line) for label in chart_labels for line in label.splitlines()) <= 18
    assert "grpc" in report.LEGEND


def test_a_peer_whose_module_is_missing_is_skipped_with_the_reason(monkeypatch):
    found = importlib.util.find_spec
    monkeypatch.setattr(
        runner.importlib.util, "find_spec", lambda name: None if name == "grpc" else found(name)
    )
    ready, skipped = runner.installed(("genrpc_actors", "grpc.aio"))
    assert ready == ["genrpc_actors"]
    assert skipped == {"grpc.aio": "grpc is not installed (pip install -e '.[bench]')"}


@pytest.mark.slow
def test_quick_run_of_the_asyncio_workloads(tmp_path):
    """genrpc_actors' side always; grpc.aio's where grpcio is installed (the bench extra)."""
    workloads, peers = "asyncio_fanout,asyncio_sequential", "genrpc_actors,grpc.aio"
    command = ["benchmarks", "--quick", "--only", workloads, "--peers", peers]
    done = run_module(*command, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "failed" not in done.stdout
    data = json.loads((tmp_path / "bench.json").read_text())
    grpc = importlib.util.find_spec("grpc") is not None
    assert data["peers"] == (["genrpc_actors", "grpc.aio"] if grpc else ["genrpc_actors"])
    for peer in data["peers"]:  # not the floor: it has no asyncio workload
        figures = data["medians"][peer]
        assert figures["asyncio_fanout.completed"] == 500
        assert figures["asyncio_sequential.calls_per_s"] > 0
    assert data["medians"]["genrpc_actors"]["asyncio_sequential.blocking_calls_per_s"] > 0
    if not grpc:
        assert "skipping grpc.aio: grpc is not installed" in done.stderr


def test_the_metrics_peer_runs_the_small_calls_only():
    assert "genrpc_actors+metrics" in runner.measured_peers(runner.Plan(workloads=("sequential",)))
    assert "genrpc_actors+metrics" in runner.measured_peers(runner.Plan(workloads=("callers8",)))
    others = ("pipelined", "incoming", "echo", "casts", "connections", "actor_ask")
    assert "genrpc_actors+metrics" not in runner.measured_peers(runner.Plan(workloads=others))


@pytest.mark.parametrize(
    ("with_metrics", "met", "verdict"),
    [
        (9_800.0, True, "met"),
        (9_000.0, False, "missed by 7%"),
        (None, None, "n/a (not measured)"),
    ],
)
def test_what_metrics_cost_is_a_target_against_the_same_nodes_without(with_metrics, met, verdict):
    data = results()
    if with_metrics is not None:
        data["rounds"][0]["genrpc_actors+metrics"] = {"sequential.calls_per_s": with_metrics}
    data["rounds"][0]["genrpc_actors"]["sequential.calls_per_s"] = 10_000.0
    target = {t["target"]: t for t in report.build(data)["targets"]}[
        "metrics on: sequential calls/s >= 0.97x metrics off"
    ]
    assert (target["met"], target["verdict"]) == (met, verdict)


def test_quick_run_with_and_without_metrics(tmp_path):
    peers = "genrpc_actors,genrpc_actors+metrics"
    command = ["benchmarks", "--quick", "--only", "sequential", "--peers", peers]
    done = run_module(*command, "--out", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "failed" not in done.stdout
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["peers"] == ["floor", "genrpc_actors", "genrpc_actors+metrics"]
    for peer in data["peers"]:
        assert data["medians"][peer]["sequential.calls_per_s"] > 0
    verdicts = {t["target"]: t for t in data["targets"]}
    assert verdicts["metrics on: sequential calls/s >= 0.97x metrics off"]["measured"] > 0


@pytest.mark.parametrize("control", [False, True])
def test_the_interleaved_measure_of_what_metrics_cost(tmp_path, control):
    command = ["benchmarks.metrics_cost", "--seconds", "0.4"]
    done = run_module(*command, "--block", "0.05", "--json", *(["--control"] if control else []))
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    (run,) = data["runs"]
    assert run["off"]["calls"] > 0
    assert run["on"]["calls"] > 0
    assert run["blocks"] >= 4
    assert data["median_ratio"] == run["ratio_calls_per_s"] > 0
    # the node with metrics counted every call it made, warm-up included; without: none
    counted = run["on"]["counted_by_metrics"]
    assert counted == (0 if control else run["on"]["made"])
