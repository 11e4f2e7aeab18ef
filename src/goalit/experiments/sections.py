"""Report sections of E4-E10 (static game, servers, trade-off, sensitivity) and the caveats."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from goalit.experiments import analysis
from goalit.experiments.analysis import compare
from goalit.experiments.figure import label
from goalit.experiments.markdown import est, figure_links, md_table, num, pct, pct_ci
from goalit.experiments.plan import Plan
from goalit.experiments.results import Row, estimate, group, select


def _dynamic_rows(rows: Sequence[Row]) -> list[Row]:
    """GOALIT's rows (any ``goalit*`` policy) of the E1-E3 load runs that carry decision statistics."""
    return [
        r
        for r in select(rows, "load")
        if str(r["policy"]).startswith("goalit")
        and isinstance(r.get("decisions"), int)
        and r["decisions"] > 0
    ]


def _slots_per_decision(r: Row) -> float:
    return float(r["decision_slots"]) / float(r["decisions"])


def dynamic_decisions(rows: Sequence[Row]) -> str:
    """Table per (GOALIT policy, arrival rate) of the decisions in the E1-E3 simulations: decisions,
    players per decision (mean, p95, max), slots per decision, converged and cycled shares (mean ± 95 %
    CI over seeds; max = largest over seeds)."""
    rs = _dynamic_rows(rows)
    if not rs:
        return ""
    body = []
    for (policy, rate), g in sorted(group(rs, lambda r: (r["policy"], r["config"]["rate_per_s"])).items()):
        spd = [{"v": _slots_per_decision(r)} for r in g]
        body.append(
            [
                label(policy),
                num(rate),
                est(estimate(g, "decisions")),
                est(estimate(g, "players_per_decision_mean")),
                est(estimate(g, "players_per_decision_p95")),
                str(max(int(r["players_per_decision_max"]) for r in g)),
                est(estimate(spd, "v")),
                _share_cell(g, "decisions_converged_share"),
                _share_cell(g, "decisions_cycled_share"),
            ]
        )
    headers = ["policy", "rate (req/s)", "decisions", "players mean", "players p95", "players max",
               "slots / decision", "converged", "cycled"]  # fmt: skip
    return md_table(headers, body)


def _share_cell(g: Sequence[Row], column: str) -> str:
    e = estimate(g, column)
    if not np.isfinite(e.mean):
        return "–"
    return (
        f"{e.mean * 100:.1f} %"
        if not np.isfinite(e.half_width)
        else f"{e.mean * 100:.1f} ± {e.half_width * 100:.1f} %"
    )


def convergence(rows: Sequence[Row], plan: Plan, figures_dir: str) -> str:
    rs = select(rows, "convergence")
    dyn = dynamic_decisions(rows)
    if not rs and not dyn:
        return ""
    dyn_part = (
        [
            "",
            "### Dynamic decisions (E1-E3 runs)",
            "",
            "Every GOALIT decision of the E1-E3 simulations is a game: its players are the requests that have "
            "arrived and not started service, the running ones are load. Per arrival rate (mean ± 95 % CI "
            "over seeds; players max = largest over seeds): decisions per run, players per decision, slots "
            "of the equilibrium search per decision, and the share of decisions that stopped at an "
            "ε-equilibrium or because a profile repeated (cycled).",
            "",
            dyn,
        ]
        if dyn
        else []
    )
    if not rs:
        return "\n".join(["## E4: convergence to a Nash equilibrium", *dyn_part])
    body = []
    for n, g in sorted(group(rs, lambda r: r["n_users"]).items()):
        body.append(
            [
                str(n),
                est(estimate(g, "slots")),
                est(estimate(g, "updates")),
                est(estimate(g, "messages")),
                f"{sum(bool(r['converged']) for r in g)}/{len(g)}",
                num(max(float(r["max_regret"]) for r in g)),
                pct(estimate(g, "potential_final").mean / estimate(g, "potential_start").mean - 1.0),
            ]
        )
    return "\n".join(
        [
            "## E4: convergence to a Nash equilibrium",
            "",
            "GOALIT (parallel grant of non-conflicting update requests) from the isolated start, static game "
            f"(Model A) of N users drawn from the `{plan.scenario}` scenario's distributions, one population "
            "per seed.",
            "",
            md_table(
                [
                    "N",
                    "slots",
                    "updates",
                    "messages",
                    "converged",
                    "max regret at end (s/token)",
                    "Δ potential",
                ],
                body,
            ),
            "",
            "ε = the scenario's tolerance; max regret ≤ ε means an ε-Nash equilibrium.",
            "",
            figure_links(figures_dir, "e4_convergence"),
            *dyn_part,
        ]
    )


def _dynamic_cost(rows: Sequence[Row]) -> str:
    """One sentence: GOALIT's players and slots per decision at the lowest and highest E1-E3 rate."""
    rs = [r for r in _dynamic_rows(rows) if r["policy"] == "goalit"]
    if not rs:
        return ""
    by_rate = sorted(group(rs, lambda r: r["config"]["rate_per_s"]).items())
    parts = []
    for rate, g in (by_rate[0], by_rate[-1]) if len(by_rate) > 1 else by_rate:
        players = estimate(g, "players_per_decision_mean").mean
        slots = float(np.mean([_slots_per_decision(r) for r in g]))
        parts.append(f"{num(players)} players and {num(slots)} slots per decision at {num(rate)} req/s")
    return (
        "Under dynamic load (E1-E3 runs, table in E4), the number of users of a GOALIT decision is its "
        "players: " + "; ".join(parts) + "."
    )


def updates(rows: Sequence[Row], plan: Plan, figures_dir: str) -> str:
    rs = select(rows, "updates")
    dyn = _dynamic_cost(rows)
    if not rs:
        return "\n".join(["## E5: convergence cost vs number of users", "", dyn]) if dyn else ""
    by_policy = group(rs, lambda r: r["policy"])
    ns = sorted({r["n_users"] for r in rs})
    headers = (
        ["N"] + [f"updates, {label(p)}" for p in sorted(by_policy)] + ["bound (Φ(a0)−Φ_lb)/ε", "O(N²) bound"]
    )
    body = []
    for n in ns:
        cells = [str(n)]
        for p in sorted(by_policy):
            cells.append(est(estimate([r for r in by_policy[p] if r["n_users"] == n], "updates")))
        g = [r for r in rs if r["n_users"] == n]
        cells += [num(estimate(g, "bound_updates").mean), num(estimate(g, "bound_updates_spec").mean)]
        body.append(cells)
    slopes = []
    for p in sorted(by_policy):
        xs = [r["n_users"] for r in by_policy[p]]
        ys = [max(float(r["updates"]), 1.0) for r in by_policy[p]]
        if len(set(xs)) > 1:
            slope = float(np.polyfit(np.log(xs), np.log(ys), 1)[0])
            slopes.append(f"{label(p)} {slope:.2f}")
    return "\n".join(
        [
            "## E5: convergence cost vs number of users",
            "",
            "Granted updates until no user has an ε-improvement. The bounds of docs/model.md B.9 are worst-case "
            "(each update lowers the potential by at least ε), far above the measured counts.",
            "",
            md_table(headers, body),
            "",
            "Log-log slope of updates vs N (1 = linear, 2 = quadratic): " + (", ".join(slopes) or "–") + ".",
            *(["", dyn] if dyn else []),
            "",
            figure_links(figures_dir, "e5_updates"),
        ]
    )


def runtime(rows: Sequence[Row], plan: Plan, figures_dir: str) -> str:
    rs = select(rows, "runtime")
    if not rs:
        return ""
    by_policy = group(rs, lambda r: r["policy"])
    policies = [p for p in ("goalit", "ot-gah", "optimum") if p in by_policy]
    ns = sorted({r["n_users"] for r in rs})
    body = []
    for n in ns:
        cells = [str(n)]
        for p in policies:
            g = [r for r in by_policy[p] if r["n_users"] == n]
            cells.append(est(estimate(g, "runtime_s")) if g else "–")
        body.append(cells)
    statuses = sorted({str(r.get("status")) for r in by_policy.get("optimum", [])})
    return "\n".join(
        [
            "## E6: decision run time vs number of users",
            "",
            "Wall-clock time of one static decision for N users (single process; the machine was shared, so "
            "times are indicative). OT-GAH = one epoch over all users; optimum = MILP (HiGHS) of the social "
            f"cost, run up to N = {plan.runtime_optimum_max_users}"
            + (f", statuses: {', '.join(statuses)}" if statuses else "")
            + ".",
            "",
            md_table(["N"] + [f"{label(p)} (s)" for p in policies], body),
            "",
            figure_links(figures_dir, "e6_runtime"),
        ]
    )


def poa(rows: Sequence[Row], plan: Plan, figures_dir: str) -> str:
    rs = select(rows, "poa")
    if not rs:
        return ""
    body = []
    for n, g in sorted(group(rs, lambda r: r["n_users"]).items()):
        body.append(
            [
                str(n),
                est(estimate(g, "poa"), 4),
                num(max(float(r["poa"]) for r in g), 4),
                *_pos_cells(g),
                num(estimate(g, "poa_bound_local").mean),
                ", ".join(sorted({str(r["opt_status"]) for r in g})),
            ]
        )
    worst = max(float(r["poa"]) for r in rs)
    return "\n".join(
        [
            "## E7: price of anarchy and of stability",
            "",
            "Social cost of GOALIT's equilibrium over the MILP optimum on the same users (price of anarchy, "
            "PoA), and of the cheapest equilibrium `goalit-refined` found (exchange moves and several starts: "
            "an upper estimate of the price of stability, PoS).",
            "",
            md_table(
                [
                    "N",
                    "PoA (mean)",
                    "PoA (worst seed)",
                    "PoS (mean)",
                    "PoS (worst seed)",
                    "bound ΣC_i(0)/ΣC_i^min",
                    "optimum status",
                ],
                body,
            ),  # fmt: skip
            "",
            f"Worst PoA observed: {worst:.4f} (1 = the equilibrium is socially optimal; docs/model.md B.9 bounds: the "
            "local-"
            "fallback bound in the table, and 5/2 for affine step times without binding capacities).",
            "",
            figure_links(figures_dir, "e7_poa"),
        ]
    )


def _pos_cells(g: Sequence[Row]) -> list[str]:
    """PoS mean and worst seed (dashes for rows stored before the refinement existed)."""
    if not all(isinstance(r.get("pos"), (int, float)) for r in g):
        return ["–", "–"]
    return [est(estimate(g, "pos"), 4), num(max(float(r["pos"]) for r in g), 4)]


def _sim_pair_table(rs: Sequence[Row], key, key_header: str, fmt_key) -> str:
    headers = [
        key_header,
        "Θ GOALIT",
        "Θ OT-GAH",
        "ΔΘ",
        "latency GOALIT (s)",
        "latency OT-GAH (s)",
        "Δ latency",
        "PPL GOALIT",
        "PPL OT-GAH",
    ]
    body = []
    for k, g in group(rs, key).items():
        a = [r for r in g if r["policy"] == "goalit"]
        b = [r for r in g if r["policy"] == "ot-gah"]
        if not a or not b:
            continue
        th = compare(a, b, "window_throughput_tps")
        la = compare(a, b, "mean_latency_s")
        pp = compare(a, b, "mean_perplexity")
        body.append(
            [
                fmt_key(k),
                est(th.goalit, 4),
                est(th.otgah, 4),
                pct_ci(th.change, th.paired),
                est(la.goalit),
                est(la.otgah),
                pct_ci(la.change, la.paired),
                est(pp.goalit, 4),
                est(pp.otgah, 4),
            ]
        )
    return md_table(headers, body)


def servers(rows: Sequence[Row], plan: Plan, figures_dir: str) -> str:
    raw = select(rows, "servers")
    if not raw:
        return ""
    rs, chosen = analysis.with_best_epochs(raw)
    rs = sorted(rs, key=lambda r: r["config"]["n_servers"])
    epochs = ", ".join(
        f"M = {_cfg(c)['n_servers']}: {num(e)} s"
        for c, e in sorted(chosen.items(), key=lambda ce: _cfg(ce[0])["n_servers"])
    )
    return "\n".join(
        [
            "## E8: number of edge servers",
            "",
            f"M servers on a grid over the area (hardware alternating RTX 4090 / AGX Orin), λ = "
            f"{plan.reference_rate_per_s:g} requests/s. OT-GAH best epoch per M: {epochs}.",
            "",
            _sim_pair_table(rs, lambda r: r["config"]["n_servers"], "M", str),
            "",
            figure_links(figures_dir, "e8_servers"),
        ]
    )


def _cfg(text: str) -> dict[str, Any]:
    return json.loads(text)


def tradeoff(rows: Sequence[Row], plan: Plan, figures_dir: str) -> str:
    rs = select(rows, "tradeoff")
    if not rs:
        return ""
    policies = sorted({r["policy"] for r in rs}, key=lambda p: (p != "goalit", p))
    scales = sorted({r["config"]["w_quality_scale"] for r in rs})
    body = []
    for k in scales:
        cells = [f"{k:g}"]
        for p in policies:
            g = [r for r in rs if r["policy"] == p and r["config"]["w_quality_scale"] == k]
            cells.append(
                f"{num(estimate(g, 'mean_latency_s').mean)} s / {num(estimate(g, 'mean_perplexity').mean, 4)}"
            )
        body.append(cells)
    return "\n".join(
        [
            "## E9: latency-quality trade-off",
            "",
            "The users' quality weight w_Q is scaled by the factor in the first column (w_T = 1). GOALIT on "
            "the level ladder (every server hosting its variants, shared since issue 10) vs GOALIT with "
            "every server hosting one fixed level (whole server); where present, the ladder on the "
            "partitioned ablation (fixed shares) for reference. Cells: mean latency / token-weighted mean "
            f"perplexity, λ = {plan.reference_rate_per_s:g} requests/s.",
            "",
            md_table(["w_Q scale"] + [label(p) for p in policies], body),
            "",
            _dominance(rs, policies),
            "",
            _frontier(rs, policies),
            "",
            figure_links(figures_dir, "e9_tradeoff"),
        ]
    )


def _frontier(rs: Sequence[Row], policies: Sequence[str]) -> str:
    """Does the ladder curve reach (latency, perplexity) points that no single-level point reaches?

    A ladder point is *new* if no fixed-level point (any level, any w_Q scale) is at least as good on
    both axes (mean latency <= and perplexity <=). Computed from the seed means.
    """

    def pts(p: str) -> list[tuple[float, float, float]]:
        out = []
        for k in sorted({r["config"]["w_quality_scale"] for r in rs if r["policy"] == p}):
            g = [r for r in rs if r["policy"] == p and r["config"]["w_quality_scale"] == k]
            out.append((k, estimate(g, "mean_latency_s").mean, estimate(g, "mean_perplexity").mean))
        return out

    fixed = [(p, *x) for p in policies if p.startswith("goalit-fixed-") for x in pts(p)]
    ladder = pts("goalit")
    if not fixed or not ladder:
        return ""
    new = [(k, lat, ppl) for k, lat, ppl in ladder
           if not any(fl <= lat and fp <= ppl for _, _, fl, fp in fixed)]  # fmt: skip
    if not new:
        return (
            "Every point of the ladder curve is matched or beaten on both axes by some single-level point: "
            "on these servers the ladder reaches no (latency, perplexity) point that a single level does not."
        )
    where = ", ".join(f"w_Q × {k:g} ({num(lat)} s, PPL {num(ppl, 4)})" for k, lat, ppl in new)
    return (
        f"The ladder reaches {len(new)} of its {len(ladder)} points that no single-level point (any level, any "
        f"w_Q scale) matches on both latency and perplexity: {where}."
    )


def _dominance(rs: Sequence[Row], policies: Sequence[str]) -> str:
    """Which fixed-level layouts beat the ladder on both axes at every w_Q scale (computed)."""
    scales = sorted({r["config"]["w_quality_scale"] for r in rs})

    def point(p: str, k: float) -> tuple[float, float]:
        g = [r for r in rs if r["policy"] == p and r["config"]["w_quality_scale"] == k]
        return estimate(g, "mean_latency_s").mean, estimate(g, "mean_perplexity").mean

    ladder = {k: point("goalit", k) for k in scales}
    better = []
    for p in policies:
        if not p.startswith("goalit-fixed-"):
            continue
        if all(point(p, k)[0] < ladder[k][0] and point(p, k)[1] <= ladder[k][1] for k in scales):
            better.append(label(p))
    if not better:
        return (
            "No fixed-level layout is both faster and of lower perplexity than GOALIT on the level ladder at "
            "every w_Q scale: choosing the level per user buys a trade-off the fixed layouts cannot offer."
        )
    return (
        f"{' and '.join(better)} {'is' if len(better) == 1 else 'are'} both faster and of lower or equal "
        "perplexity than GOALIT on the level ladder at every w_Q scale: in this scenario hosting several "
        "variants per server costs more latency (KV memory and, when partitioned, bandwidth shares) than "
        "choosing the level per user saves."
    )


def sensitivity(rows: Sequence[Row], plan: Plan, figures_dir: str) -> str:
    raw = select(rows, "sensitivity")
    if not raw:
        return ""
    rs, _ = analysis.with_best_epochs(raw)
    table = analysis.sensitivity_table(rs, plan)
    flat = []
    for factor, values in table.items():
        for v, by_policy in values.items():
            for r in (x for rows_ in by_policy.values() for x in rows_):
                flat.append({**r, "_key": (factor, v)})
    order = {k: i for i, k in enumerate(dict.fromkeys(r["_key"] for r in flat))}
    flat.sort(key=lambda r: order[r["_key"]])
    return "\n".join(
        [
            "## E10: sensitivity",
            "",
            "One factor at a time away from the base scenario (first value of each factor = base), λ = "
            f"{plan.reference_rate_per_s:g} requests/s; OT-GAH at its best epoch per configuration. "
            "Llama-2-7B has no "
            "q3_k_m level: a shared server stops hosting it (a partitioned one gives its share to the server's "
            "next larger level).",
            "",
            _sim_pair_table(
                flat,
                lambda r: r["_key"],
                "factor = value",
                lambda k: f"{analysis.FACTOR_NAMES.get(k[0], k[0])} = {analysis.factor_label(*k)}",
            ),
            "",
            figure_links(figures_dir, "e10_sensitivity"),
        ]
    )


def caveats(plan: Plan) -> str:
    return "\n".join(
        [
            "## Caveats",
            "",
            "* The paper's model is reconstructed (docs/model.md part B): whether quantization is chosen per user or "
            "per "
            "server, whether local execution is a strategy, whether energy enters the utility and whether "
            "the "
            "uplink is interference-coupled are open; each changes the comparison.",
            '* OT-GAH is our reading of "optimal tree-based search" (DFTSP-style batch search per instance + '
            "greedy allocation, docs/model.md B.10). Its epoch length was tuned on a grid (above); other readings "
            "could "
            "do better or worse.",
            '* Window throughput is measured over a finite window (see "Why"); the primary throughputs, '
            "capacity at SLO and steady-state throughput, are not. Capacity depends on the SLO it is measured "
            f"against (here ≥ {plan.slo_deadline_share:.0%} deadlines met and p95 TTFT ≤ {plan.slo_p95_ttft_s:g} s). "
            "Run times (E6) are wall-clock on a shared 2-core machine.",
            "* The decomposition variants are our constructions: OT-GAH's planner on continuous batching sends "
            "each planned batch to a continuous-batching instance request by request; GOALIT on epochs starts "
            "a static batch only on an instance free at the epoch boundary, as OT-GAH does. Other ways to "
            "combine a decision rule with a serving discipline could split the gap differently.",
        ]
    )


def placement(rows: Sequence[Row], plan: Plan, figures_dir: str) -> str:
    rs = select(rows, "placement")
    if not rs:
        return ""
    rs = sorted(rs, key=lambda r: int(r["seed"]))

    def hosts(r: Row) -> dict[str, list[str]]:
        v = r["best_hosts"]
        return v if isinstance(v, dict) else json.loads(v)

    body = [
        [str(r["seed"]), ", ".join(f"{k}: {'+'.join(v)}" for k, v in hosts(r).items()),
         f"{num(float(r['best_social_cost']))} / {num(float(r['best_mean_latency_s']))} s / "
         f"{num(float(r['best_mean_perplexity']), 4)}",
         f"{num(float(r['scenario_social_cost']))} / {num(float(r['scenario_mean_latency_s']))} s / "
         f"{num(float(r['scenario_mean_perplexity']), 4)}",
         f"{r['single_level']}: {num(float(r['single_social_cost']))} / {num(float(r['single_mean_latency_s']))} s"
         f" / {num(float(r['single_mean_perplexity']), 4)}"]
        for r in rs
    ]  # fmt: skip
    multi = sum(int(r["multi_variant_servers"]) > 0 for r in rs)
    gain = [1.0 - float(r["best_social_cost"]) / float(r["single_social_cost"]) for r in rs]
    servers = {s for r in rs for s in hosts(r)}
    mixed = sum(len({tuple(v) for v in hosts(r).values()}) > 1 for r in rs)
    verdict = (
        f"In {multi} of {len(rs)} seeds the best placement found has at least one server whose users use "
        f"more than one level; in {mixed} of {len(rs)} the servers host different levels. The best "
        f"placement's social cost is {100 * min(gain):.1f}-{100 * max(gain):.1f} % below the best uniform "
        "single level. "
        + (
            "The paper's premise that a server should offer a ladder of levels is not what the optimisation "
            "picks for these users: the choice of level matters across servers, not within one."
            if multi == 0
            else "Hosting a ladder on a server pays for these users in every seed, as the paper assumes."
            if multi == len(rs)
            else "Whether a ladder on one server pays depends on the users drawn: the paper's premise holds "
            "for some populations, while for the others one level per server (different across servers) "
            "is as good."
        )
    )
    return "\n".join(
        [
            "## E11: placement of variants on shared servers",
            "",
            "Each of the scenario's servers picks its hosted set from a small menu (single levels and "
            "two- and three-level ladders that leave 15 % of memory for KV) by coordinate descent on the "
            "social cost of GOALIT's equilibrium (Model A, the scenario's users drawn from the seed); "
            f"variants unused at the best placement are dropped ({len(servers)} servers). Cells: social "
            "cost / mean latency / token-weighted mean perplexity.",
            "",
            md_table(["seed", "best placement", "best", "scenario's placement", "best single level"], body),
            "",
            verdict,
        ]
    )


SECTIONS = (convergence, updates, runtime, poa, servers, tradeoff, sensitivity, placement)
