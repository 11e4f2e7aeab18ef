"""The figures of E1-E10 (PNG + SVG): means across seeds with 95 % confidence bands, axes with units."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path

import numpy as np
from matplotlib.ticker import MaxNLocator

from goalit.experiments import analysis
from goalit.experiments.figure import MARKERS, color, label, line_ci, new_figure, save
from goalit.experiments.plan import Plan
from goalit.experiments.results import Row, estimate, group, select
from goalit.experiments.stats import Estimate, mean_ci


def tuned_label(policy: str) -> str:
    """The legend label of ``policy``, marked "(best epoch)" when the experiments tune its epoch."""
    return label(policy) + (" (best epoch)" if analysis.epoch_tuned(policy) else "")


def make_figures(rows: Sequence[Row], plan: Plan, out_dir: str | Path, jobs: int = 1) -> list[Path]:
    """Draw every figure whose experiment has rows (in ``jobs`` processes); returns the files written."""
    out = Path(out_dir)
    if jobs > 1:
        from joblib import Parallel, delayed

        parts = Parallel(n_jobs=jobs, backend="loky")(delayed(draw)(rows, plan, out) for draw in FIGURES)
    else:
        parts = [draw(rows, plan, out) for draw in FIGURES]
    return [p for part in parts for p in part]


# --- E1-E3: load sweep ----------------------------------------------------------------------------------
LOAD_PANELS = (
    ("e1_throughput", [("window_throughput_tps", "token throughput in the window [0, D] (tokens/s)"),
                       ("token_throughput_tps", "tokens / makespan (tokens/s)")]),
    ("e2_latency", [("mean_latency_s", "mean end-to-end latency (s)"),
                    ("p95_latency_s", "p95 end-to-end latency (s)")]),
    ("e2_ttft_tpot", [("mean_ttft_s", "mean time to first token (s)"),
                      ("mean_tpot_s", "mean time per output token (s/token)")]),
    ("e3_perplexity", [("mean_perplexity", "token-weighted mean perplexity (WikiText-2)")]),
)  # fmt: skip


def load_figure(name: str, rows: Sequence[Row], plan: Plan, out: Path) -> list[Path]:
    """One figure of ``LOAD_PANELS`` (or the level shares) over the load sweep."""
    table = analysis.load_table(rows)
    if not table.series:
        return []
    if name == "e3_level_share":
        return _level_share_figure(table, plan, out)
    panels = [(c, y) for c, y in dict(LOAD_PANELS)[name] if table.has(c)]
    if not panels:
        return []
    fig, axes = new_figure(ncols=len(panels))
    for ax, (col, ylabel) in zip(axes[0], panels, strict=True):
        for k, policy in enumerate(table.policies):
            xs, est = table.curve(policy, col)
            line_ci(
                ax,
                xs,
                est,
                label=tuned_label(policy),
                color=color(policy, k),
                marker=MARKERS[k % len(MARKERS)],
            )
        if col == "window_throughput_tps" and table.has("offered_tps"):
            xs, est = table.curve(table.policies[0], "offered_tps")
            ax.plot(xs, [e.mean for e in est], color="0.3", ls=":", lw=1, label="offered load")
        ax.set_xlabel("arrival rate λ (requests/s)")
        ax.set_ylabel(ylabel)
    axes[0][0].legend(loc="best")
    fig.suptitle(f"Load sweep on '{plan.scenario}' ({_seeds_note(table.n_seeds)})", fontsize=9)
    return save(fig, out, name)


def _level_share_figure(table: analysis.LoadTable, plan: Plan, out: Path) -> list[Path]:
    from goalit.experiments.dynamic import LEVELS

    cols = [f"share_level_{q}" for q in LEVELS if f"share_level_{q}" in table.columns]
    if not cols:
        return []
    cols.append("share_local")
    names = {"share_local": "local (device, q4_k_m)"}
    policies = [p for p in ("goalit", "ot-gah") if p in table.policies]
    fig, axes = new_figure(ncols=len(policies))
    for ax, policy in zip(axes[0], policies, strict=True):
        xs = None
        bottom = None
        for k, col in enumerate(cols):
            xs, est = table.curve(policy, col)
            vals = np.array([e.mean for e in est])
            vals = np.nan_to_num(vals)
            bottom = np.zeros_like(vals) if bottom is None else bottom
            ax.bar(
                [str(x) for x in xs],
                vals,
                bottom=bottom,
                color="0.75" if col == "share_local" else f"C{k}",
                label=names.get(col, "edge " + col.removeprefix("share_level_")),
            )
            bottom = bottom + vals
        ax.set_title(label(policy))
        ax.set_xlabel("arrival rate λ (requests/s)")
        ax.set_ylabel("share of requests by where they ran")
        ax.set_ylim(0, 1.0)
    axes[0][-1].legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), title="where")
    return save(fig, out, "e3_level_share")


# --- E4 convergence -----------------------------------------------------------------------------------
def convergence_figure(rows: Sequence[Row], plan: Plan, out: Path) -> list[Path]:
    rs = select(rows, "convergence")
    if not rs:
        return []
    fig, axes = new_figure(ncols=3, width=4.2)
    panels = (
        ("potential_trace", "potential Φ(a(t)) (s/token)"),
        ("social_cost_trace", "social cost Σ_i C_i(a(t)) (s)"),
        ("moved_trace", "users changing strategy in slot t"),
    )
    by_n = group(rs, lambda r: r["n_users"])
    for k, n in enumerate(sorted(by_n)):
        for ax, (col, ylabel) in zip(axes[0], panels, strict=True):
            traces = [r[col] for r in by_n[n]]
            xs, est = _padded(traces, hold=col != "moved_trace")
            line_ci(ax, xs, est, label=f"N = {n}", color=f"C{k}", marker="", floor=0.0)
            ax.set_xlabel("decision slot t")
            ax.set_ylabel(ylabel)
    axes[0][0].legend(loc="best")
    fig.suptitle(f"E4: GOALIT convergence (parallel grant; {_seeds_note(_n_seeds(rs))})", fontsize=9)
    return save(fig, out, "e4_convergence")


def _padded(traces: Sequence[Sequence[float]], hold: bool) -> tuple[list[int], list[Estimate]]:
    """Align traces of different lengths: after convergence a trace holds its last value (or 0)."""
    length = max(len(t) for t in traces)
    mat = np.array([list(t) + [t[-1] if hold else 0.0] * (length - len(t)) for t in traces], dtype=float)
    return list(range(length)), [mean_ci(mat[:, j].tolist()) for j in range(length)]


# --- E5 updates vs N ------------------------------------------------------------------------------------
def updates_figure(rows: Sequence[Row], plan: Plan, out: Path) -> list[Path]:
    rs = select(rows, "updates")
    if not rs:
        return []
    fig, axes = new_figure(ncols=2, height=4.6)
    ax, ax2 = axes[0]
    by_policy = group(rs, lambda r: r["policy"])
    for k, policy in enumerate(sorted(by_policy)):
        xs, upd = _curve(by_policy[policy], "n_users", "updates")
        line_ci(ax, xs, upd, label=label(policy), color=color(policy, k), marker=MARKERS[k])
        xs, slots = _curve(by_policy[policy], "n_users", "slots")
        line_ci(ax2, xs, slots, label=label(policy), color=color(policy, k), marker=MARKERS[k])
    any_rows = next(iter(by_policy.values()))
    xs, bound = _curve(any_rows, "n_users", "bound_updates")
    ax.plot(xs, [e.mean for e in bound], "k--", lw=1, label="bound (Φ(a(0)) − Φ_lb)/ε")
    xs, spec = _curve(any_rows, "n_users", "bound_updates_spec")
    ax.plot(xs, [e.mean for e in spec], "k:", lw=1, label="bound [N d_max(N) + Σ Δβ/α]/ε = O(N²)")
    ref = by_policy.get("goalit-random") or next(iter(by_policy.values()))
    xs_r, upd_r = _curve(ref, "n_users", "updates")
    grid = np.linspace(min(xs_r), max(xs_r), 50)
    n_last, u_last = xs_r[-1], upd_r[-1].mean
    for power, style in ((1, (0, (3, 2))), (2, "-.")):
        ax.plot(grid, u_last * (grid / n_last) ** power, color="0.55", lw=1, ls=style,
                label=f"∝ N{'²' if power == 2 else ''} through the last random-grant point")  # fmt: skip
    ax.set_yscale("log")
    ax.set_xlabel("number of users N")
    ax.set_ylabel("updates (granted moves) to ε-NE")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.16), ncol=2, fontsize=7)
    ax2.set_xlabel("number of users N")
    ax2.set_ylabel("decision slots to ε-NE")
    ax2.legend(loc="best")
    fig.suptitle(f"E5: convergence cost vs N ({_seeds_note(_n_seeds(rs))})", fontsize=9)
    return save(fig, out, "e5_updates")


# --- E6 run time ----------------------------------------------------------------------------------------
def runtime_figure(rows: Sequence[Row], plan: Plan, out: Path) -> list[Path]:
    rs = select(rows, "runtime")
    if not rs:
        return []
    fig, axes = new_figure()
    ax = axes[0][0]
    for k, (policy, prs) in enumerate(sorted(group(rs, lambda r: r["policy"]).items())):
        xs, est = _curve(prs, "n_users", "runtime_s")
        line_ci(ax, xs, est, label=label(policy), color=color(policy, k), marker=MARKERS[k])
    ax.set_yscale("log")
    ax.set_xlabel("number of users N")
    ax.set_ylabel("decision wall-clock time (s)")
    ax.legend(loc="best")
    fig.suptitle(f"E6: run time vs N ({_seeds_note(_n_seeds(rs))}; shared 2-core machine)", fontsize=9)
    return save(fig, out, "e6_runtime")


# --- E7 PoA -----------------------------------------------------------------------------------------
def poa_figure(rows: Sequence[Row], plan: Plan, out: Path) -> list[Path]:
    rs = select(rows, "poa")
    if not rs:
        return []
    fig, axes = new_figure(ncols=2)
    zoom, ax = axes[0]
    xs, est = _curve(rs, "n_users", "poa")
    by_n = group(rs, lambda r: r["n_users"])
    worst = [max(r["poa"] for r in by_n[x]) for x in xs]
    for a in (zoom, ax):
        line_ci(a, xs, est, label="empirical PoA S(NE)/S(OPT), mean", color=color("goalit"))
        a.plot(xs, worst, "v--", color=color("goalit"), ms=4, lw=1, label="empirical PoA, worst seed")
        a.axhline(1.0, color="0.5", lw=0.8)
        a.set_xlabel("number of users N")
        a.xaxis.set_major_locator(MaxNLocator(integer=True))
    zoom.set_ylabel("price of anarchy (1 = socially optimal)")
    zoom.set_title("measured (zoom)", fontsize=9)
    zoom.legend(loc="best")
    xs, bound = _curve(rs, "n_users", "poa_bound_local")
    ax.plot(xs, [e.mean for e in bound], "k:", lw=1, label="bound ΣC_i(0)/ΣC_i^min (B.9 i), mean")
    ax.axhline(2.5, color="0.4", ls="--", lw=1, label="5/2 (B.9 ii, affine, no binding capacity)")
    ax.set_ylim(bottom=0.9)
    ax.set_ylabel("price of anarchy (ratio)")
    ax.set_title("against the bounds of docs/model.md B.9", fontsize=9)
    ax.legend(loc="center right", fontsize=7)
    fig.suptitle(f"E7: price of anarchy ({_seeds_note(_n_seeds(rs))})", fontsize=9)
    return save(fig, out, "e7_poa")


# --- E8 servers -------------------------------------------------------------------------------------
SIM_PANELS = (
    ("window_throughput_tps", "token throughput in [0, D] (tokens/s)"),
    ("mean_latency_s", "mean end-to-end latency (s)"),
    ("mean_perplexity", "token-weighted mean perplexity"),
)


def servers_figure(rows: Sequence[Row], plan: Plan, out: Path) -> list[Path]:
    rs, _ = analysis.with_best_epochs(select(rows, "servers"))
    if not rs:
        return []
    fig, axes = new_figure(ncols=3, width=4.2)
    for k, (policy, prs) in enumerate(sorted(group(rs, lambda r: r["policy"]).items())):
        for ax, (col, ylabel) in zip(axes[0], SIM_PANELS, strict=True):
            xs, est = _curve(prs, "n_servers", col)
            line_ci(ax, xs, est, label=tuned_label(policy), color=color(policy, k), marker=MARKERS[k])
            ax.set_xlabel("number of edge servers M")
            ax.set_ylabel(ylabel)
    axes[0][0].legend(loc="best")
    rate = plan.reference_rate_per_s
    fig.suptitle(f"E8: servers at λ = {rate:g} requests/s ({_seeds_note(_n_seeds(rs))})", fontsize=9)
    return save(fig, out, "e8_servers")


# --- E9 latency-quality trade-off --------------------------------------------------------------------
def tradeoff_figure(rows: Sequence[Row], plan: Plan, out: Path) -> list[Path]:
    rs = select(rows, "tradeoff")
    if not rs:
        return []
    fig, axes = new_figure(width=6.0, height=4.2)
    ax = axes[0][0]
    for k, (policy, prs) in enumerate(sorted(group(rs, lambda r: r["policy"]).items())):
        g = group(prs, lambda r: r["config"]["w_quality_scale"])
        scales = sorted(g)
        lat = [estimate(g[s], "mean_latency_s") for s in scales]
        ppl = [estimate(g[s], "mean_perplexity") for s in scales]
        c = color(policy, k) if policy == "goalit" else f"C{k + 1}"
        ax.errorbar([e.mean for e in lat], [e.mean for e in ppl], xerr=_err(lat), yerr=_err(ppl), color=c,
                    marker=MARKERS[k], ms=4, lw=1.2, capsize=2, label=label(policy))  # fmt: skip
        for s, x, y in zip(scales, lat, ppl, strict=True):
            ax.annotate(
                f"{s:g}", (x.mean, y.mean), textcoords="offset points", xytext=(4, 3), fontsize=7, color=c
            )
    ax.set_xlabel("mean end-to-end latency (s)")
    ax.set_ylabel("token-weighted mean perplexity")
    ax.legend(loc="best", title="labels: w_Q scale (× default)")
    rate = plan.reference_rate_per_s
    fig.suptitle(f"E9: latency-quality trade-off at λ = {rate:g} requests/s ({_seeds_note(_n_seeds(rs))})",
                 fontsize=9)  # fmt: skip
    return save(fig, out, "e9_tradeoff")


def _err(est: Sequence[Estimate]) -> np.ndarray | None:
    half = np.array([e.half_width for e in est], dtype=float)
    return None if not np.isfinite(half).any() else np.nan_to_num(half)


# --- E10 sensitivity ---------------------------------------------------------------------------------
def sensitivity_figure(rows: Sequence[Row], plan: Plan, out: Path) -> list[Path]:
    rs, _ = analysis.with_best_epochs(select(rows, "sensitivity"))
    if not rs:
        return []
    table = analysis.sensitivity_table(rs, plan)
    factors = [f for f in table if len(table[f]) > 1] or list(table)
    metrics = (
        ("window_throughput_tps", "throughput in [0, D] (tokens/s)"),
        ("mean_latency_s", "mean latency (s)"),
    )
    fig, axes = new_figure(ncols=len(factors), nrows=2, width=4.0, height=3.2)
    for col, factor in enumerate(factors):
        values = list(table[factor])
        for row_i, (metric, ylabel) in enumerate(metrics):
            ax = axes[row_i][col]
            width = 0.38
            for k, policy in enumerate(("goalit", "ot-gah")):
                est = [estimate(table[factor][v].get(policy, []), metric) for v in values]
                pos = np.arange(len(values)) + (k - 0.5) * width
                ax.bar(pos, [e.mean for e in est], width, yerr=_err(est), capsize=2, color=color(policy),
                       label=tuned_label(policy))  # fmt: skip
            ax.set_xticks(
                np.arange(len(values)), [analysis.factor_label(factor, v) for v in values], fontsize=7
            )
            ax.set_ylabel(ylabel)
            ax.set_xlabel(analysis.FACTOR_NAMES.get(factor, factor))
    axes[0][0].legend(loc="best")
    rate = plan.reference_rate_per_s
    fig.suptitle(f"E10: sensitivity at λ = {rate:g} requests/s ({_seeds_note(_n_seeds(rs))})", fontsize=9)
    return save(fig, out, "e10_sensitivity")


# --- helpers ----------------------------------------------------------------------------------------
def _curve(rs: Sequence[Row], x: str, y: str) -> tuple[list[float], list[Estimate]]:
    g = group(rs, lambda r: r[x] if x in r else r["config"][x])
    xs = sorted(g)
    return xs, [estimate(g[v], y) for v in xs]


def _n_seeds(rs: Sequence[Row]) -> int:
    return len({r["seed"] for r in rs})


def _seeds_note(n: int) -> str:
    return f"{n} seed{'s' if n != 1 else ''}, 95 % CI bands"


# --- headline: the decomposition at a glance -------------------------------------------------------------
def headline_figure(rows: Sequence[Row], plan: Plan, out: Path) -> list[Path]:
    """Grouped bars with 95 % CIs for the four policies of the decomposition: capacity at SLO, and per
    arrival rate the steady-state throughput and the mean latency."""
    from goalit.experiments.headline import capacity_series
    from goalit.experiments.plan import DECOMPOSITION

    cap = capacity_series(rows)
    table = analysis.load_table(rows)
    pols = [p for p in DECOMPOSITION if p in cap or any((p, x) in table.series for x in table.rates)]
    if len(pols) < 2:
        return []
    panels = []
    if cap:
        panels.append(("capacity", "capacity at SLO (req/s)"))
    for col, ylabel in (("steady_throughput_tps", "steady-state throughput (tokens/s)"),
                        ("mean_latency_s", "mean end-to-end latency (s)")):  # fmt: skip
        if table.has(col):
            panels.append((col, ylabel))
    if not panels:
        return []
    fig, axes = new_figure(ncols=len(panels), width=4.6, height=3.6)
    w = 0.8 / len(pols)
    for ax, (col, ylabel) in zip(axes[0], panels, strict=True):
        groups: list[float] = [0.0] if col == "capacity" else list(table.rates)
        for k, p in enumerate(pols):
            if col == "capacity":
                est = [estimate(cap.get(p, []), "capacity_rps")]
            else:
                est = [estimate(table.rows(p, x), col) for x in groups]
            xs = np.arange(len(groups)) + (k - (len(pols) - 1) / 2) * w
            means = [e.mean for e in est]
            ax.bar(xs, means, width=w, color=color(p, k), label=tuned_label(p), yerr=_err(est), capsize=2,
                   hatch="//" if p in ("ot-gah", "goalit-epochs") else None, edgecolor="white", lw=0)  # fmt: skip
        if col == "capacity":
            ax.set_xticks([0])
            ax.set_xticklabels(
                [f"≥ {plan.slo_deadline_share:.0%} deadlines, p95 TTFT ≤ {plan.slo_p95_ttft_s:g} s"]
            )
        else:
            ax.set_xticks(np.arange(len(groups)))
            ax.set_xticklabels([f"{x:g}" for x in groups])
            ax.set_xlabel("arrival rate λ (requests/s)")
        ax.set_ylabel(ylabel)
    axes[0][-1].legend(loc="upper left", fontsize=7)  # latency panel: its low-load bars are short
    n = table.n_seeds or len(next(iter(cap.values()), []))
    fig.suptitle("GOALIT vs OT-GAH decomposed: hatched = static batches at epochs, solid = continuous "
                 f"batching ({n} seed{'s' if n != 1 else ''}, 95 % CIs)", fontsize=9)  # fmt: skip
    return save(fig, out, "headline_decomposition")


FIGURES: tuple[Callable[[Sequence[Row], Plan, Path], list[Path]], ...] = (
    headline_figure, *(partial(load_figure, name) for name, _ in LOAD_PANELS), partial(load_figure, "e3_level_share"),
    convergence_figure, updates_figure, runtime_figure, poa_figure, servers_figure,
    tradeoff_figure, sensitivity_figure,
)  # fmt: skip
