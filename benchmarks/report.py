"""The table, its Markdown and JSON, and the verdict on each target: pure functions of the results.

``results`` is what ``benchmarks.runner.run`` returns: ``settings``, ``machine``, ``peers`` (the
ones measured, the floor among them), ``skipped`` and ``rounds`` (one ``{peer: {figure: value}}``
per round, figures named ``"workload.figure"``, and ``"workload.error"`` when one failed).
``build(results)`` adds the medians, the ratios and the verdicts; the renderers read that.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from typing import Any

SUBJECT = "genrpc_actors"
PROCESSES = "genrpc_actors+processes"  # the same node, its CPU-bound requests in process workers
METRICS = "genrpc_actors+metrics"  # the same nodes, serving Prometheus metrics
METRICS_COST = 0.03  # what metrics may cost of the sequential calls/s, at most
FLOOR = "floor"
PYTHON_PEERS = ("Pyro5", "rpyc", "managers")
GRPC = "grpc.aio"  # the peer of the asyncio workloads (only they run on it)
GRPC_BLOCKING = "grpc"  # gRPC's blocking calls: small calls, echo and pipelined calls
COMPARED = (*PYTHON_PEERS, GRPC_BLOCKING, GRPC)  # the peers of the "/ best peer" column


@dataclass(frozen=True)
class Row:
    key: str
    label: str
    higher_is_better: bool
    form: str = "{:,.0f}"
    compare: bool = True  # whether the ratio columns mean anything for it


ROWS = (
    Row("sequential.calls_per_s", "sequential: calls/s", True),
    Row("sequential.p50_us", "sequential: p50 us", False),
    Row("sequential.p99_us", "sequential: p99 us", False),
    Row("sequential.client_cpu_us", "  CPU us per call, client", False, "{:.1f}"),
    Row("sequential.server_cpu_us", "  CPU us per call, server", False, "{:.1f}"),
    Row("callers8.calls_per_s", "8 callers: calls/s", True),
    Row("callers8.p50_us", "8 callers: p50 us", False),
    Row("callers8.p99_us", "8 callers: p99 us", False),
    Row("callers8.client_cpu_us", "  CPU us per call, client", False, "{:.1f}"),
    Row("callers8.server_cpu_us", "  CPU us per call, server", False, "{:.1f}"),
    Row("callers64.calls_per_s", "64 callers: calls/s", True),
    Row("callers64.p50_us", "64 callers: p50 us", False),
    Row("callers64.p99_us", "64 callers: p99 us", False),
    Row("pipelined.calls_per_s", "pipelined, {depth} in flight: calls/s", True),
    Row("pipelined.client_cpu_us", "  CPU us per call, client", False, "{:.1f}"),
    Row("pipelined.server_cpu_us", "  CPU us per call, server", False, "{:.1f}"),
    Row("incoming.calls_per_s", "{incoming} processes pipelining into one server: calls/s", True),
    Row("incoming.server_cpu_us", "  CPU us per call, server", False, "{:.1f}"),
    Row("incoming.client_cpu_us", "  CPU us per call, clients", False, "{:.1f}"),
    Row("echo.mb_per_s", "500 KB echo: MB/s", True),
    Row("casts.big_msgs_per_s", "cast burst {big}: msgs/s", True),
    Row("casts.small_msgs_per_s", "cast burst {small}: msgs/s", True),
    Row("casts.cost_ratio", "cast cost/msg {big} / {small}", False, "{:.2f}", compare=False),
    Row("isolation.idle_p99_us", "isolation: idle p99 us", False),
    Row("isolation.busy_p99_us", "isolation: busy p99 us", False),
    Row("isolation.ratio", "isolation: busy / idle p99", False, "{:.2f}", compare=False),
    Row("connections.worked", "{conns} connections: worked", True, compare=False),
    Row("connections.client_rss_kb", "  client RSS KB/conn", False, "{:.1f}", compare=False),
    Row("connections.server_rss_kb", "  server RSS KB/conn", False, "{:.1f}", compare=False),
    Row("connections.client_threads", "  client threads/conn", False, "{:.2f}", compare=False),
    Row("connections.server_threads", "  server threads/conn", False, "{:.2f}", compare=False),
    Row("cpu_parallel.serial_per_s", "50 ms CPU calls, 1 at a time: calls/s", True, "{:,.1f}"),
    Row("cpu_parallel.parallel_per_s", "50 ms CPU calls, 2 x cores at once", True, "{:,.1f}"),
    Row("cpu_parallel.speedup", "  speedup (at once / 1 at a time)", True, "{:.2f}", compare=False),
    Row("overhead.calls_per_s", "small calls to cpu_targets: calls/s", True, compare=False),
    Row("overhead.p50_us", "small calls to cpu_targets: p50 us", False, compare=False),
    Row("overhead.echo_mb_per_s", "500 KB echo to cpu_targets: MB/s", True, compare=False),
    Row(
        "kill_latency.late_ms",
        "past the time limit: answer after it, ms",
        False,
        "{:,.0f}",
        compare=False,
    ),
    Row(
        "kill_latency.served_ms",
        "  a request served again after, ms",
        False,
        "{:,.0f}",
        compare=False,
    ),
    Row(
        "kill_latency.replaced_ms",
        "  the killed worker replaced after, ms",
        False,
        "{:,.0f}",
        compare=False,
    ),
    Row(
        "kill_latency.start_ms",
        "  of which its new process starting, ms",
        False,
        "{:,.0f}",
        compare=False,
    ),
    Row("noisy_neighbour.busy0_p50_us", "small calls, idle: p50 us", False),
    Row("noisy_neighbour.busy0_p99_us", "small calls, idle: p99 us", False),
    Row("noisy_neighbour.busy1_p50_us", "  beside 1 CPU-bound: p50 us", False),
    Row("noisy_neighbour.busy1_p99_us", "  beside 1 CPU-bound: p99 us", False),
    Row("noisy_neighbour.busy2_p50_us", "  beside 2 CPU-bound: p50 us", False),
    Row("noisy_neighbour.busy2_p99_us", "  beside 2 CPU-bound: p99 us", False),
    Row("noisy_neighbour.busy1_p50_ratio", "  p50 beside 1 / idle", False, "{:.1f}", compare=False),
    Row("noisy_neighbour.busy1_p99_ratio", "  p99 beside 1 / idle", False, "{:.1f}", compare=False),
    Row("noisy_neighbour.busy2_p50_ratio", "  p50 beside 2 / idle", False, "{:.1f}", compare=False),
    Row("noisy_neighbour.busy2_p99_ratio", "  p99 beside 2 / idle", False, "{:.1f}", compare=False),
    Row(
        "asyncio_fanout.completed",
        "{fanout} awaited calls at once (10 ms naps): done",
        True,
        compare=False,
    ),
    Row("asyncio_fanout.wall_s", "  wall time, s", False, "{:.2f}"),
    Row("asyncio_fanout.client_rss_mb", "  client RSS growth at peak, MB", False, "{:.1f}"),
    Row("asyncio_fanout.server_rss_mb", "  server RSS growth at peak, MB", False, "{:.1f}"),
    Row("asyncio_fanout.client_threads", "  client threads added at peak", False, compare=False),
    Row("asyncio_fanout.server_threads", "  server threads added at peak", False, compare=False),
    Row("asyncio_sequential.calls_per_s", "awaited calls, one at a time: calls/s", True),
    Row("asyncio_sequential.p50_us", "awaited calls: p50 us", False),
    Row("asyncio_sequential.p99_us", "awaited calls: p99 us", False),
    Row(
        "asyncio_sequential.blocking_calls_per_s",
        "  blocking calls, same process: calls/s",
        True,
        compare=False,
    ),
    Row(
        "asyncio_sequential.ratio_to_blocking",
        "  awaited / blocking calls/s",
        True,
        "{:.2f}",
        compare=False,
    ),
    Row("actor_ask.asks_per_s", "remote actor asks, one at a time: asks/s", True),
    Row("actor_ask.p50_us", "remote actor asks: p50 us", False),
    Row("actor_ask.p99_us", "remote actor asks: p99 us", False),
    Row("actor_ask.calls_per_s", "  calls of a function, same run: calls/s", True, compare=False),
    Row("actor_ask.ratio_to_call", "  asks / calls per s", True, "{:.2f}", compare=False),
)


def _short(count: float) -> str:
    return f"{count / 1000:g}k" if count >= 1000 else f"{count:g}"


def medians(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, dict[str, float]]:
    """The median of each numeric figure of each peer over the rounds that produced it."""
    values: dict[str, dict[str, list[float]]] = {}
    for figures_by_peer in rounds:
        for peer, figures in figures_by_peer.items():
            for key, value in figures.items():
                if isinstance(value, int | float) and not isinstance(value, bool):
                    values.setdefault(peer, {}).setdefault(key, []).append(float(value))
    return {
        peer: {key: statistics.median(seq) for key, seq in by_key.items()}
        for peer, by_key in values.items()
    }


def errors(rounds: list[dict[str, dict[str, Any]]]) -> dict[str, list[str]]:
    """Each peer's failures, once each, prefixed with the workload that failed."""
    found: dict[str, list[str]] = {}
    for figures_by_peer in rounds:
        for peer, figures in figures_by_peer.items():
            for key, value in figures.items():
                if key == "error" or key.endswith(".error"):
                    text = f"{key.removesuffix('.error')}: {value}"
                    if text not in found.setdefault(peer, []):
                        found[peer].append(text)
    return {peer: texts for peer, texts in found.items() if texts}


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference == 0:
        return None
    return value / reference


def best_peer(med: dict[str, dict[str, float]], key: str, higher: bool) -> tuple[str, float] | None:
    """The best of the peers on ``key`` (highest or lowest), as (peer, value)."""
    found = [(peer, med[peer][key]) for peer in COMPARED if key in med.get(peer, {})]
    if not found:
        return None
    return (max if higher else min)(found, key=lambda item: item[1])


def ratios(med: dict[str, dict[str, float]]) -> dict[str, dict[str, dict[str, float | None]]]:
    """Each peer's figure over the floor's and over the best peer's (value / reference)."""
    table: dict[str, dict[str, dict[str, float | None]]] = {}
    for row in ROWS:
        if not row.compare:
            continue
        best = best_peer(med, row.key, row.higher_is_better)
        for peer, figures in med.items():
            if row.key in figures and peer != FLOOR:
                table.setdefault(peer, {})[row.key] = {
                    "floor": ratio(figures[row.key], med.get(FLOOR, {}).get(row.key)),
                    "best_peer": ratio(figures[row.key], best[1] if best else None),
                }
    return table


def verdict(measured: float | None, target: float, at_least: bool) -> tuple[bool | None, str]:
    """``(met, text)``: "met", or "missed by X%" (how far short of the target, in percent)."""
    if measured is None:
        return None, "n/a (not measured)"
    met = measured >= target if at_least else measured <= target
    if met:
        return True, "met"
    short = (target - measured) / target if at_least else (measured - target) / target
    return False, f"missed by {100 * short:.0f}%"


@dataclass(frozen=True)
class Target:
    text: str
    key: str  # a figure of genrpc_actors
    versus: str | None  # the peer whose same figure divides it; None: the figure as it is
    goal: float
    at_least: bool
    subject: str = SUBJECT  # whose figure it is


FANOUT = 10_000  # the asyncio fan-out's calls, when the settings do not say (older results)
FANOUT_THREADS = 0.001  # server threads added per call of the fan-out, at most


def asyncio_targets(fanout: int) -> list[Target]:
    """The asyncio workloads' targets: the fan-out of ``fanout`` calls and the sequential calls.

    Threads: a node awaits coroutines on its one event loop; a thread per call would add 100%
    of the calls, its whole worker pool (256 threads) 2.6% of 10,000; the target allows 0.1%.
    """
    n = _short(fanout)
    return [
        Target(
            f"{n} awaited calls at once: all complete",
            "asyncio_fanout.completed",
            None,
            fanout,
            True,
        ),
        Target(
            f"{n} awaited calls at once: wall <= 2 s", "asyncio_fanout.wall_s", None, 2.0, False
        ),
        Target(
            f"{n} awaited calls at once: wall <= 1x grpc.aio",
            "asyncio_fanout.wall_s",
            GRPC,
            1.0,
            False,
        ),
        Target(
            f"{n} awaited calls: server threads added <= {100 * FANOUT_THREADS:g}% of them",
            "asyncio_fanout.server_threads_per_call",
            None,
            FANOUT_THREADS,
            False,
        ),
        Target(
            "awaited calls/s >= 0.8x blocking calls/s",
            "asyncio_sequential.ratio_to_blocking",
            None,
            0.8,
            True,
        ),
        Target(
            "awaited calls/s >= 1x grpc.aio",
            "asyncio_sequential.calls_per_s",
            GRPC,
            1.0,
            True,
        ),
    ]


DEPTH = 1000  # calls in flight in the pipelined workloads, when the settings do not say
INCOMING = 4  # client processes of the incoming workload, when the settings do not say
INCOMING_SERVER_CPU_US = 5.0  # CPU microseconds of the server per incoming call, at most


def target_list(settings: dict[str, Any]) -> list[Target]:
    """The project's targets, named with the counts that this run used.

    The CPU cost per call is best read from a pinned run (``--pin``: every process on one
    CPU, so that the rates are what one core's time buys); the verdicts are given either way.
    """
    big, small = _short(settings["casts_big"]), _short(settings["casts_small"])
    conns = settings["connections"]
    cores = settings.get("cpus") or 1
    depth = _short(settings.get("pipeline_depth", DEPTH))
    incoming = settings.get("incoming_processes", INCOMING)
    return [
        Target("sequential calls/s >= 0.9x floor", "sequential.calls_per_s", FLOOR, 0.9, True),
        Target("sequential calls/s >= 1.5x Pyro5", "sequential.calls_per_s", "Pyro5", 1.5, True),
        Target("sequential calls/s >= 1.5x rpyc", "sequential.calls_per_s", "rpyc", 1.5, True),
        Target(
            "sequential calls/s >= 1x managers", "sequential.calls_per_s", "managers", 1.0, True
        ),
        *(
            Target(f"sequential calls/s >= 2x {peer}", "sequential.calls_per_s", peer, 2.0, True)
            for peer in ("Pyro5", "rpyc", GRPC_BLOCKING)
        ),
        Target(
            f"metrics on: sequential calls/s >= {1 - METRICS_COST:g}x metrics off",
            "sequential.calls_per_s",
            SUBJECT,
            1 - METRICS_COST,
            True,
            METRICS,
        ),
        Target("8 callers calls/s >= 0.8x floor", "callers8.calls_per_s", FLOOR, 0.8, True),
        Target("8 callers calls/s >= 1x managers", "callers8.calls_per_s", "managers", 1.0, True),
        *(
            Target(f"8 callers calls/s >= 2x {peer}", "callers8.calls_per_s", peer, 2.0, True)
            for peer in PYTHON_PEERS
        ),
        Target(
            f"pipelined calls/s ({depth} in flight) >= 0.3x floor",
            "pipelined.calls_per_s",
            FLOOR,
            0.3,
            True,
        ),
        Target(
            f"{incoming} processes pipelining in: server CPU per call <= "
            f"{INCOMING_SERVER_CPU_US:g} us",
            "incoming.server_cpu_us",
            None,
            INCOMING_SERVER_CPU_US,
            False,
        ),
        Target("500 KB echo MB/s >= 1.2x floor", "echo.mb_per_s", FLOOR, 1.2, True),
        Target(f"{big}-cast burst msgs/s >= 0.5x floor", "casts.big_msgs_per_s", FLOOR, 0.5, True),
        Target(
            f"casts linear: cost/msg at {big} <= 1.5x at {small}",
            "casts.cost_ratio",
            None,
            1.5,
            False,
        ),
        Target("isolation: busy p99 / idle p99 <= 2", "isolation.ratio", None, 2.0, False),
        Target(
            f"CPU calls at once >= 0.8 x {cores} cores (process workers)",
            "cpu_parallel.speedup",
            None,
            0.8 * cores,
            True,
            PROCESSES,
        ),
        Target(
            "killed within the time limit + 100 ms",
            "kill_latency.late_ms",
            None,
            100.0,
            False,
            PROCESSES,
        ),
        Target(
            "after a kill, its worker is replaced and ready within 1 s",
            "kill_latency.replaced_ms",
            None,
            1000.0,
            False,
            PROCESSES,
        ),
        *(
            Target(
                f"{what} in process workers >= 0.6x in threads",
                f"overhead.{key}",
                SUBJECT,
                0.6,
                True,
                PROCESSES,
            )
            for what, key in (("small calls/s", "calls_per_s"), ("500 KB echo", "echo_mb_per_s"))
        ),
        *(
            Target(
                f"p{stat} beside {busy} CPU-bound <= {goal:g}x idle (process workers)",
                f"noisy_neighbour.busy{busy}_p{stat}_ratio",
                None,
                goal,
                False,
                PROCESSES,
            )
            for busy in (1, 2)
            for stat, goal in (("50", 2.0), ("99", 3.0))
        ),
        Target(f"{conns:,} keyed connections all work", "connections.worked", None, conns, True),
        Target("RSS per connection < 200 KB (each side)", "connections.rss_kb", None, 200.0, False),
        *asyncio_targets(settings.get("fanout", FANOUT)),
        Target("remote actor asks/s >= 0.8x calls/s", "actor_ask.ratio_to_call", None, 0.8, True),
    ]


def _measured(target: Target, med: dict[str, dict[str, float]]) -> float | None:
    mine = med.get(target.subject, {})
    if target.key == "connections.rss_kb":  # the worse of the two sides
        sides = [mine.get("connections.client_rss_kb"), mine.get("connections.server_rss_kb")]
        return None if None in sides else max(v for v in sides if v is not None)
    if target.versus is None:
        return mine.get(target.key)
    return ratio(mine.get(target.key), med.get(target.versus, {}).get(target.key))


def _shown(target: Target, measured: float | None) -> str:
    if measured is None:
        return "n/a"
    if target.key.startswith("kill_latency."):
        return f"{measured:,.0f} ms"
    if target.key == "connections.worked":
        return f"{measured:,.0f}/{target.goal:,.0f}"
    if target.key == "connections.rss_kb":
        return f"{measured:.1f} KB"
    if target.key == "asyncio_fanout.completed":
        return f"{measured:,.0f}/{target.goal:,.0f}"
    if target.key == "asyncio_fanout.wall_s" and target.versus is None:
        return f"{measured:.2f} s"
    if target.key == "asyncio_fanout.server_threads_per_call":
        return f"{100 * measured:.2f}%"
    if target.key.endswith("_cpu_us") and target.versus is None:
        return f"{measured:.1f} us"
    return f"{measured:.2f}x"


def targets(med: dict[str, dict[str, float]], settings: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target, with genrpc_actors' measured figure and the verdict."""
    out = []
    for target in target_list(settings):
        measured = _measured(target, med)
        met, said = verdict(measured, target.goal, target.at_least)
        out.append(
            {
                "target": target.text,
                "measured": measured,
                "shown": _shown(target, measured),
                "met": met,
                "verdict": said,
            }
        )
    return out


def build(results: dict[str, Any]) -> dict[str, Any]:
    """The results with their medians, ratios, errors and target verdicts added."""
    med = medians(results["rounds"])
    return {
        **results,
        "medians": med,
        "ratios": ratios(med),
        "errors": errors(results["rounds"]),
        "targets": targets(med, results["settings"]),
    }


def title(report: dict[str, Any]) -> str:
    s, machine = report["settings"], report["machine"]
    pinned = (
        f"every process pinned to CPU {s['pin']}"
        if s.get("pin") is not None
        else "not pinned (processes free to run on any CPU)"
    )
    return (
        f"genrpc_actors side by side: medians of {len(report['rounds'])} round(s), "
        f"{s['seconds']:g} s per measurement; {machine['cpus']} CPUs, {pinned}; "
        f"Python {machine['python']}"
    )


def _cell(report: dict[str, Any], peer: str, row: Row) -> str:
    value = report["medians"].get(peer, {}).get(row.key)
    if value is None:
        return "n/a"
    if row.key == "connections.worked":
        return f"{value:,.0f}/{report['medians'][peer].get('connections.count', 0):,.0f}"
    if row.key == "asyncio_fanout.completed":
        return f"{value:,.0f}/{report['medians'][peer].get('asyncio_fanout.count', 0):,.0f}"
    text = row.form.format(value)
    if row.key.startswith("casts.") and row.key != "casts.cost_ratio":
        count = report["medians"][peer].get(row.key.replace("msgs_per_s", "count"))
        default = report["settings"]["casts_big" if "big" in row.key else "casts_small"]
        if count is not None and count != default:
            text += f" (n={_short(count)})"
    return text


def _ratio_cell(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}x"


def label_names(settings: dict[str, Any]) -> dict[str, str]:
    """What the rows' labels name, from the settings of the run: ``row.label.format(**it)``."""
    return {
        "big": _short(settings["casts_big"]),
        "small": _short(settings["casts_small"]),
        "conns": f"{settings['connections']:,}",
        "fanout": f"{settings.get('fanout', FANOUT):,}",
        "depth": f"{settings.get('pipeline_depth', DEPTH):,}",
        "incoming": f"{settings.get('incoming_processes', INCOMING)}",
    }


def grid(report: dict[str, Any]) -> list[list[str]]:
    """The table as rows of cells, the header first: a row per figure, a column per peer."""
    names = label_names(report["settings"])
    peers = report["peers"]
    header = ["figure", *peers, "/ floor", "/ best peer"]
    rows = [header]
    present = {key for figures in report["medians"].values() for key in figures}
    for row in ROWS:
        if row.key not in present:
            continue
        mine = report["ratios"].get(SUBJECT, {}).get(row.key, {})
        best = best_peer(report["medians"], row.key, row.higher_is_better) if row.compare else None
        rows.append(
            [
                row.label.format(**names),
                *(_cell(report, peer, row) for peer in peers),
                _ratio_cell(mine.get("floor")),
                _ratio_cell(mine.get("best_peer")) + (f" ({best[0]})" if best and mine else ""),
            ]
        )
    return rows


LEGEND = (
    f"/ floor, / best peer: {SUBJECT}' median over the floor's and over the best of "
    f"{', '.join(COMPARED)} (the highest rate, the lowest latency); for latencies, times, "
    "sizes and CPU costs, below 1 is better"
)


BUSY_LOAD = 1.0  # a 1-minute load average at the start above this: the CPUs were shared


def _notes(report: dict[str, Any]) -> list[str]:
    machine = report["machine"]
    notes = []
    if machine.get("load_before", 0.0) > BUSY_LOAD:
        notes.append(
            f"load average {machine['load_before']:.1f} at the start "
            f"({machine.get('load_after', 0.0):.1f} at the end): other processes shared "
            f"the {machine['cpus']} CPUs, so the figures are noisier than usual"
        )
    notes += [f"skipped {peer}: {reason}" for peer, reason in report["skipped"].items()]
    notes += [
        f"{peer} failed: {text}" for peer, texts in report["errors"].items() for text in texts
    ]
    return notes


def text_table(report: dict[str, Any]) -> str:
    """The table as printed: aligned columns, then the notes and the targets."""
    cells = grid(report)
    widths = [max(len(row[i]) for row in cells) for i in range(len(cells[0]))]
    lines = [title(report), LEGEND, ""]
    for index, row in enumerate(cells):
        first = row[0].ljust(widths[0])
        rest = [cell.rjust(width) for cell, width in zip(row[1:], widths[1:], strict=True)]
        lines.append("  ".join([first, *rest]).rstrip())
        if index == 0:
            lines.append("  ".join("-" * width for width in widths))
    lines += ["", *_notes(report)] if _notes(report) else []
    lines += ["", "targets (genrpc_actors):"]
    width = max(len(t["target"]) for t in report["targets"])
    lines += [
        f"  {t['target'].ljust(width)}  {t['shown']:>12}  {t['verdict']}" for t in report["targets"]
    ]
    return "\n".join(lines)


def markdown(report: dict[str, Any]) -> str:
    """The same table in Markdown."""
    cells = grid(report)
    lines = [f"# {title(report)}", "", LEGEND, ""]
    lines.append("| " + " | ".join(cells[0]) + " |")
    lines.append("|" + "|".join([":---"] + ["---:"] * (len(cells[0]) - 1)) + "|")
    lines += ["| " + " | ".join(row) + " |" for row in cells[1:]]
    notes = _notes(report)
    lines += ["", *(f"- {note}" for note in notes)] if notes else []
    lines += ["", "## Targets (genrpc_actors)", "", "| target | measured | verdict |"]
    lines.append("|:---|---:|:---|")
    lines += [f"| {t['target']} | {t['shown']} | {t['verdict']} |" for t in report["targets"]]
    return "\n".join(lines) + "\n"


def to_json(report: dict[str, Any]) -> str:
    return json.dumps(report, indent=2, sort_keys=True) + "\n"
