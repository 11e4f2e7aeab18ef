"""Matplotlib plumbing shared by the figures: headless Agg backend, byte-stable PNG + SVG, CI bands."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from goalit.experiments.stats import Estimate  # noqa: E402

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

STYLE: dict[RcKeyType, Any] = {  # matplotlib rcParams (values of several types)
    "svg.hashsalt": "goalit",  # stable element ids: same data, same SVG bytes
    "svg.fonttype": "none",
    "font.size": 9,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.fontsize": 8,
    "figure.dpi": 100,
}

# One colour and marker per policy, stable across figures.
COLORS = {
    "goalit": "#1f77b4", "ot-gah": "#d62728", "local": "#7f7f7f", "nearest-fp16": "#2ca02c",
    "nearest-q4": "#98df8a", "random": "#9467bd", "least-loaded": "#8c564b", "greedy": "#ff7f0e",
    "optimum": "#000000", "goalit-random": "#1f77b4", "goalit-max-gain": "#17becf",
    "goalit-parallel": "#bcbd22", "ot-gah-continuous": "#ff9896", "goalit-epochs": "#aec7e8",
}  # fmt: skip
MARKERS = "osD^v<>ph*"

LABELS = {
    "goalit": "GOALIT", "ot-gah": "OT-GAH", "local": "all local", "nearest-fp16": "nearest FP16",
    "nearest-q4": "nearest 4-bit", "random": "random", "least-loaded": "least loaded",
    "greedy": "myopic greedy", "optimum": "optimum (MILP)", "goalit-random": "GOALIT, random grant",
    "goalit-max-gain": "GOALIT, max-gain grant", "goalit-parallel": "GOALIT, parallel grant",
    "goalit-partitioned": "GOALIT, ladder on partitioned servers",
    "ot-gah-continuous": "OT-GAH planner, continuous batching", "goalit-epochs": "GOALIT on epochs, static batches",
}  # fmt: skip


def label(policy: str) -> str:
    if policy.startswith("goalit-fixed-"):
        return f"GOALIT, servers fixed at {policy.removeprefix('goalit-fixed-')}"
    return LABELS.get(policy, policy)


def color(policy: str, k: int = 0) -> str:
    return COLORS.get(policy, f"C{k % 10}")


def new_figure(ncols: int = 1, nrows: int = 1, width: float = 5.0, height: float = 3.6):
    plt.rcParams.update(STYLE)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), squeeze=False)
    return fig, axes


def line_ci(ax, x: Sequence[float], est: Sequence[Estimate], *, label: str, color: str, marker: str = "o",
            linestyle: str = "-", floor: float | None = None) -> None:  # fmt: skip
    """Means as a line with markers, the 95 % CI as a shaded band (where it exists; clipped at ``floor``)."""
    xs = list(x)
    ax.plot(xs, [e.mean for e in est], marker=marker, ms=4, lw=1.4, color=color, label=label, ls=linestyle)
    lo = [e.lo if floor is None else max(e.lo, floor) for e in est]
    hi = [e.hi for e in est]
    if any(math.isfinite(v) for v in lo):
        ax.fill_between(xs, lo, hi, color=color, alpha=0.18, lw=0)


def save(fig, out_dir: Path, name: str) -> list[Path]:
    """Write ``name.png`` and ``name.svg`` (no timestamps: same figure, same bytes) and close the figure."""
    out_dir.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    paths = [out_dir / f"{name}.png", out_dir / f"{name}.svg"]
    savefig_kw: tuple[dict[str, Any], ...] = (
        {"dpi": 150, "metadata": {"Software": None}},
        {"metadata": {"Date": None, "Creator": None}},
    )
    for path, kw in zip(paths, savefig_kw, strict=True):
        tmp = path.with_name(path.name + ".tmp")
        fig.savefig(tmp, format=path.suffix[1:], **kw)
        os.replace(tmp, path)  # never a half-written figure
    plt.close(fig)
    return paths
