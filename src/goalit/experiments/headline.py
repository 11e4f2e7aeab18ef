"""The report's headline: capacity at SLO, the decomposition of GOALIT vs OT-GAH into a batching and a
decision effect, and the verdicts on the paper's three claims, by rules fixed before any run.

Verdict rules (also in docs/experiments.md, fixed before the full run):

* **Primary view: all load points** (the mean over every arrival rate of the grid of the per-rate
  change; capacity at SLO has no rate axis). The moderate-high subset (rates >= the median of the grid)
  is a secondary view, printed next to it.
* A claim **agrees** when the change has the paper's sign and its magnitude is within a factor of two of
  the paper's number (+27 % throughput, -20 % latency); for perplexity ("lower") only the sign counts.
  A change whose 95 % CI includes 0 is reported as not significant.
* Throughput is judged on three metrics, each with its own verdict: capacity at SLO and steady-state
  throughput (window-independent, primary) and window throughput (labelled secondary: it rewards
  finishing in-flight work before the window closes). Latency: mean end-to-end latency. Perplexity:
  token-weighted mean perplexity.
* Every verdict is given for the paper's comparison (GOALIT vs OT-GAH, static batches and epochs) and
  for the decision effect alone (both paths of ``analysis.EFFECTS``), so a reader can see how much of an
  agreement comes from the batching discipline.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from goalit.experiments import analysis
from goalit.experiments.analysis import EFFECTS, LoadTable, averaged_effects, paired_effects, seed_values
from goalit.experiments.figure import label
from goalit.experiments.markdown import est, figure_links, md_table, num, pct_ci
from goalit.experiments.plan import DECOMPOSITION, Plan
from goalit.experiments.results import Row, estimate, select
from goalit.experiments.stats import Estimate, mean_ci

# claim -> (paper's change or None for "lower", paper's text, [(metric, label, primary?)])
CLAIMS = (
    ("throughput", 0.27, "+27 %", (
        ("capacity_rps", "capacity at SLO", True),
        ("steady_throughput_tps", "steady-state throughput", True),
        ("window_throughput_tps", "window throughput [0, D] (secondary)", False),
    )),
    ("latency", -0.20, "−20 %", (("mean_latency_s", "mean end-to-end latency", True),)),
    ("perplexity", None, "lower", (("mean_perplexity", "token-weighted mean perplexity", True),)),
)  # fmt: skip
DECOMPOSED = (
    ("steady_throughput_tps", "Steady-state throughput (tokens/s, primary)", 4),
    ("mean_latency_s", "Mean end-to-end latency (s)", 3),
    ("p95_ttft_s", "p95 time to first token (s)", 3),
    ("mean_perplexity", "Token-weighted mean perplexity", 4),
    ("deadline_met_share", "Share of requests within their deadline", 3),
    ("window_throughput_tps", "Window throughput in [0, D] (tokens/s, secondary)", 4),
)
MAGNITUDE_BAND = (0.5, 2.0)
SHORT = {EFFECTS[0][0]: "batching (A)", EFFECTS[1][0]: "decision (A)", EFFECTS[2][0]: "decision (B)",
         EFFECTS[3][0]: "batching (B)", EFFECTS[4][0]: "total"}  # fmt: skip


def verdict(ours: float, ci: Estimate, paper: float | None) -> str:
    """Agreement of a relative change with the paper's (sign, then magnitude within a factor of two)."""
    if not math.isfinite(ours):
        return "no data"
    ns = math.isfinite(ci.lo) and ci.lo <= 0.0 <= ci.hi
    sign = -1.0 if paper is None else math.copysign(1.0, paper)
    if ours == 0:
        text = "**disagrees** (no change)"
    elif math.copysign(1.0, ours) != sign:
        text = "**disagrees** (opposite sign)"
    elif paper is None:
        text = "**agrees** (direction)"
    else:
        ratio = ours / paper
        if MAGNITUDE_BAND[0] <= ratio <= MAGNITUDE_BAND[1]:
            text = "**agrees** (sign and magnitude)"
        else:
            text = f"**sign only** ({ratio:.2g}× the paper's)"
    return text + (", n.s." if ns else "")


def capacity_series(rows: Sequence[Row]) -> dict[str, list[Row]]:
    """Capacity rows per policy, epoch-tuned policies at their chosen epoch (evaluation seeds only)."""
    rs, _ = analysis.with_best_epochs(select(rows, "capacity"))
    out: dict[str, list[Row]] = {}
    for r in rs:
        out.setdefault(r["policy"], []).append(r)
    return out


def capacity_chosen(rows: Sequence[Row]) -> dict[str, float | None]:
    tuned = [r for r in select(rows, "capacity") if analysis.epoch_tuned(r["policy"])]
    out = {}
    for p in dict.fromkeys(r["policy"] for r in tuned):
        out[p], _ = analysis.best_epoch([r for r in tuned if r["policy"] == p], "capacity")
    return out


def _ratio_change(a: dict[int, float], b: dict[int, float]) -> tuple[float, Estimate]:
    """mean(a)/mean(b) - 1 over common seeds, CI of the per-seed ratios (seeds with b > 0)."""
    seeds = [s for s in sorted(set(a) & set(b)) if math.isfinite(a[s]) and math.isfinite(b[s])]
    if not seeds:
        return math.nan, Estimate(math.nan, math.nan, math.nan, 0)
    ma, mb = np.mean([a[s] for s in seeds]), np.mean([b[s] for s in seeds])
    change = float(ma / mb - 1.0) if mb > 0 else math.nan
    return change, mean_ci([a[s] / b[s] - 1.0 for s in seeds if b[s] > 0])


def _averaged_change(
    table: LoadTable, metric: str, rates: Sequence[float], a: str, b: str
) -> tuple[float, Estimate]:
    """Mean over rates of mean(a)/mean(b) - 1; CI over seeds of each seed's mean paired ratio - 1."""
    changes: list[float] = []
    per_seed: dict[int, list[float]] = {}
    for x in rates:
        va, vb = seed_values(table.rows(a, x), metric), seed_values(table.rows(b, x), metric)
        c, _ = _ratio_change(va, vb)
        if math.isfinite(c):
            changes.append(c)
        for s in set(va) & set(vb):
            if math.isfinite(va[s]) and math.isfinite(vb[s]) and vb[s] != 0:
                per_seed.setdefault(s, []).append(va[s] / vb[s] - 1.0)
    full = [float(np.mean(v)) for v in per_seed.values() if len(v) == len(rates)]
    return (float(np.mean(changes)) if len(changes) == len(rates) and changes else math.nan), mean_ci(full)


def render(rows: Sequence[Row], plan: Plan, figures_dir: str) -> str:
    table = analysis.load_table(rows)
    cap = capacity_series(rows)
    have_load = all((p, x) in table.series for p in DECOMPOSITION for x in table.rates[:1])
    if not have_load and not cap:
        return ""
    rates = table.rates
    upper = [x for x in rates if x >= float(np.median(rates))] if rates else []
    out = ["## Headline: what the decision is worth (E1-E3 decomposed, capacity at SLO)", ""]
    out += [
        "Four policies on the same requests (common random numbers): **GOALIT**; **OT-GAH** as the paper's "
        "baseline (its planner at epoch boundaries, static padded batches); **OT-GAH planner on continuous "
        "batching** (same decisions at the same epochs, served by the continuous-batching instances); "
        "**GOALIT on epochs** (GOALIT's decisions only at epoch boundaries, served with OT-GAH's static "
        "batches, a batch starting only on a free instance). The three epoch-based policies use the best "
        "epoch of the grid per load point, chosen on separate tuning seeds (table at the end of this "
        "section). The gap GOALIT − OT-GAH splits two ways into a **batching effect** (same decision rule, "
        "other serving) and a **decision effect** (same serving, other decision rule):",
        "",
        "* path A: OT-GAH → OT-GAH planner continuous (batching) → GOALIT (decision);",
        "* path B: OT-GAH → GOALIT on epochs (decision) → GOALIT (batching).",
        "",
        "Each effect is the per-seed difference divided by that seed's OT-GAH value (capacity: plain "
        "difference in req/s), so on every seed batching + decision = total on each path; means with "
        "95 % CIs over seeds.",
        "",
        "**Verdict rules (fixed before running).** Primary view: all load points (mean over every rate of "
        "the per-rate change); the moderate-high subset (λ ≥ median of the grid) is a secondary view. A "
        "claim agrees when the sign matches and the magnitude is within a factor of two of the paper's "
        '(+27 % throughput, −20 % latency; perplexity: direction only); "n.s." marks a 95 % CI that '
        "includes 0. Throughput is judged on capacity at SLO and steady-state throughput (window-"
        "independent, primary) and on window throughput (secondary).",
        "",
    ]
    out += _summary(table, cap, rates, have_load)
    if cap:
        out += _capacity_section(cap, capacity_chosen(rows), plan)
    if have_load:
        out += _claims_section(table, cap, rates, upper)
        for metric, title, digits in DECOMPOSED:
            if table.has(metric):
                out += _decomposition_table(table, metric, title, digits, rates, upper)
    out.append(figure_links(figures_dir, "headline_decomposition"))
    return "\n".join(out)


def _summary(
    table: LoadTable, cap: dict[str, list[Row]], rates: Sequence[float], have_load: bool
) -> list[str]:
    """Two computed sentences: where the gap comes from (capacity, then the primary per-rate metrics)."""
    names = [n for n, _, _ in EFFECTS]
    out = []
    eff = paired_effects({p: seed_values(cap.get(p, []), "capacity_rps") for p in cap}, relative=False)
    if eff:
        m = {p: estimate(cap[p], "capacity_rps").mean for p in DECOMPOSITION}
        out.append(
            f"* **Capacity at SLO**: GOALIT {num(m['goalit'])} req/s, OT-GAH {num(m['ot-gah'])}, OT-GAH's planner "
            f"on continuous batching {num(m['ot-gah-continuous'])}, GOALIT on epochs {num(m['goalit-epochs'])}. "
            f"Of the total gap ({est(eff[names[4]][0])} req/s), batching accounts for {est(eff[names[0]][0])} "
            f"and the decision for {est(eff[names[1]][0])} on path A; under static batching (path B) GOALIT's "
            f"decision changes OT-GAH's capacity by {est(eff[names[2]][0])} req/s."
        )
    if have_load and rates:
        for metric, what in (
            ("steady_throughput_tps", "steady-state throughput"),
            ("mean_latency_s", "mean latency"),
        ):
            if not table.has(metric):
                continue
            e = averaged_effects(table, metric, rates)
            if e:
                out.append(
                    f"* **{what[0].upper() + what[1:]}**, all rates: total {pct_est(e[names[4]][0])}; batching "
                    f"{pct_est(e[names[0]][0])} and decision {pct_est(e[names[1]][0])} (path A); decision "
                    f"{pct_est(e[names[2]][0])} and batching {pct_est(e[names[3]][0])} (path B)."
                )
    return (["**In short** (computed from the rows below):", "", *out, ""]) if out else []


def _capacity_section(cap: dict[str, list[Row]], chosen: dict[str, float | None], plan: Plan) -> list[str]:
    out = [
        "### Capacity at SLO",
        "",
        f"The highest Poisson arrival rate (req/s) at which ≥ {plan.slo_deadline_share:.0%} of the requests "
        f"finish within their deadline and the p95 time to first token is ≤ {plan.slo_p95_ttft_s:g} s, "
        f"found per policy and seed by geometric bisection on [{plan.capacity_min_rps:g}, "
        f"{plan.capacity_max_rps:g}] req/s to a relative tolerance of {plan.capacity_rel_tol:.0%} "
        f"({plan.capacity_horizon_s:g} s arrival windows, every request served to completion; the same "
        "seeds, hence the same draws, for every policy). Window-independent: it is where a policy stops "
        "keeping up, not what it finished by an arbitrary time.",
        "",
    ]
    body = []
    for p in [*DECOMPOSITION, *(q for q in cap if q not in DECOMPOSITION)]:
        rs = cap.get(p, [])
        if not rs:
            continue
        bounds = [str(r.get("capacity_bound") or "") for r in rs]
        note = ", ".join(
            f"{bounds.count(b)} {b.replace('_', ' ')}" for b in ("below_min", "at_max") if b in bounds
        )
        body.append(
            [label(p), est(estimate(rs, "capacity_rps")), str(len(rs)), note or "–", num(chosen.get(p))]
        )
    out.append(md_table(["policy", "capacity (req/s)", "seeds", "outside the bracket", "T_e (s)"], body))
    eff = paired_effects({p: seed_values(cap.get(p, []), "capacity_rps") for p in cap}, relative=False)
    if eff:
        out += ["", "Decomposition of the capacity gap (req/s, paired over seeds):", ""]
        out.append(md_table(["effect", "Δ capacity (req/s)"], [[n, est(e)] for n, (e, _) in eff.items()]))
    out.append("")
    return out


def _claims_section(
    table: LoadTable, cap: dict[str, list[Row]], rates: Sequence[float], upper: Sequence[float]
) -> list[str]:
    comps = (("GOALIT vs OT-GAH (paper's comparison)", "goalit", "ot-gah"),
             ("decision only, path A: GOALIT vs OT-GAH planner continuous", "goalit", "ot-gah-continuous"),
             ("decision only, path B: GOALIT on epochs vs OT-GAH", "goalit-epochs", "ot-gah"))  # fmt: skip
    body = []
    for claim, paper, paper_text, metrics in CLAIMS:
        for metric, mlabel, primary in metrics:
            for cname, a, b in comps:
                if metric == "capacity_rps":
                    if not cap:
                        continue
                    c, ci = _ratio_change(
                        seed_values(cap.get(a, []), metric), seed_values(cap.get(b, []), metric)
                    )
                    c_up, ci_up = c, ci
                elif table.has(metric):
                    c, ci = _averaged_change(table, metric, rates, a, b)
                    c_up, ci_up = _averaged_change(table, metric, upper, a, b)
                else:
                    continue
                body.append([
                    claim, paper_text, mlabel + ("" if primary else " ‡"), cname, pct_ci(c, ci),
                    verdict(c, ci, paper), "–" if metric == "capacity_rps" else pct_ci(c_up, ci_up),
                    "–" if metric == "capacity_rps" else verdict(c_up, ci_up, paper),
                ])  # fmt: skip
    return [
        "### Against the paper's three claims",
        "",
        md_table(
            [
                "claim",
                "paper",
                "metric",
                "comparison",
                "ours, all rates (primary)",
                "verdict",
                "ours, moderate-high (secondary)",
                "verdict (secondary)",
            ],
            body,
        ),  # fmt: skip
        "",
        "Relative change = mean(first) / mean(second) − 1 (averaged over rates); brackets: 95 % CI of the "
        "per-seed paired change. ‡ secondary metric. Capacity at SLO has no rate axis.",
        "",
    ]


def _decomposition_table(
    table: LoadTable, metric: str, title: str, digits: int, rates: Sequence[float], upper: Sequence[float]
) -> list[str]:
    headers = ["λ (req/s)", *(label(p) for p in DECOMPOSITION), *(SHORT[n] for n, _, _ in EFFECTS)]
    body = []
    for x in rates:
        cells = [f"{x:g}"] + [est(estimate(table.rows(p, x), metric), digits) for p in DECOMPOSITION]
        eff = paired_effects({p: seed_values(table.rows(p, x), metric) for p in table.policies})
        cells += [pct_est(eff[n][0]) if n in eff else "–" for n, _, _ in EFFECTS]
        body.append(cells)
    for name, sel in (("all rates (primary)", rates), ("λ ≥ median (secondary)", upper)):
        eff = averaged_effects(table, metric, sel)
        body.append([f"**{name}**"] + [""] * len(DECOMPOSITION)
                    + [f"**{pct_est(eff[n][0])}**" if n in eff else "–" for n, _, _ in EFFECTS])  # fmt: skip
    return [f"**{title}** — means per policy; effects relative to OT-GAH, paired over seeds", "",
            md_table(headers, body), ""]  # fmt: skip


def pct_est(e: Estimate) -> str:
    if not math.isfinite(e.mean):
        return "–"
    if not math.isfinite(e.lo):
        return f"{e.mean * 100:+.1f} %"
    return f"{e.mean * 100:+.1f} % [{e.lo * 100:+.1f}, {e.hi * 100:+.1f}]"
