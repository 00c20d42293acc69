"""The bar chart of the report: each peer's throughput relative to the floor (matplotlib, Agg)."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

from benchmarks.report import FLOOR, ROWS, label_names

CHARTED = [row for row in ROWS if row.higher_is_better and row.compare]


def bars(report: dict[str, Any]) -> tuple[list[str], dict[str, list[float]]]:
    """(labels, {peer: ratio to the floor per label}): the throughput figures the floor has."""
    med = report["medians"]
    floor = med.get(FLOOR, {})
    s = report["settings"]
    names = {**label_names(s), "big": f"{s['casts_big']:,}", "small": f"{s['casts_small']:,}"}
    rows = [row for row in CHARTED if floor.get(row.key)]
    labels = [_wrapped(row.label.format(**names)) for row in rows]
    series = {
        peer: [med.get(peer, {}).get(row.key, 0.0) / floor[row.key] for row in rows]
        for peer in report["peers"]
        if peer != FLOOR
    }
    return labels, series


def _wrapped(label: str, width: int = 18) -> str:
    """A label in lines short enough not to run into its neighbours' under the bars."""
    return "\n".join(textwrap.fill(part, width) for part in label.split(": "))


def draw(report: dict[str, Any], path: Path) -> Path:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    labels, series = bars(report)
    figure, axes = plt.subplots(figsize=(max(8, 1.6 * len(labels)), 5))
    width = 0.8 / max(1, len(series))
    for index, (peer, values) in enumerate(series.items()):
        offsets = [i + (index - (len(series) - 1) / 2) * width for i in range(len(labels))]
        axes.bar(offsets, values, width, label=peer)
    axes.axhline(1.0, color="black", linewidth=1, linestyle="--", label="floor = 1")
    axes.set_xticks(range(len(labels)), labels, fontsize=8)
    axes.set_ylabel("throughput / floor's (higher is better)")
    axes.set_title("genrpc_actors and its peers, relative to the raw-socket floor", fontsize=10)
    axes.legend(fontsize=8)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
