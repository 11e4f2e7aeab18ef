"""The report's section on real arrivals: E1-E3 decomposed on the Azure and Mooncake traces."""

from __future__ import annotations

from collections.abc import Sequence

from goalit.experiments import analysis
from goalit.experiments.analysis import EFFECTS, paired_effects, seed_values
from goalit.experiments.dynamic import TRACE_MAX_OUTPUT, TRACE_MAX_PROMPT, TRACES
from goalit.experiments.figure import label
from goalit.experiments.headline import pct_est
from goalit.experiments.markdown import est, md_table
from goalit.experiments.plan import DECOMPOSITION, Plan
from goalit.experiments.results import Row, estimate, select

METRICS = (("steady_throughput_tps", "steady thr. (tok/s)", 4), ("mean_latency_s", "mean latency (s)", 3),
           ("deadline_met_share", "deadline met", 3), ("mean_perplexity", "PPL", 4))  # fmt: skip


def traces_section(rows: Sequence[Row], plan: Plan) -> str:
    head = "## E1-E3 on real arrivals (Azure code, Azure conversation, Mooncake)"
    if plan.traces_dir is None:
        return f"{head}\n\nSkipped: no traces directory given (`goalit reproduce --traces DIR`)."
    rs = select(rows, "traces")
    out = [
        head,
        "",
        f"Traces from `{plan.traces_dir}` (README there: sources and licences). Transforms, in this order: "
        "arrival times shifted to start at 0; time scaled so that the trace's mean rate over its whole span "
        f"becomes λ ∈ {{{', '.join(f'{x:g}' for x in plan.trace_rates_per_s)}}} req/s; cut to the arrivals "
        f"before {plan.trace_window_s:g} s (bursts make the rate of this first window differ from λ: the "
        f"offered load is printed); prompts clipped to ≤ {TRACE_MAX_PROMPT} and outputs to ≤ "
        f"{TRACE_MAX_OUTPUT} tokens (Llama-3-8B's 8,192-token context). The trace fixes arrivals and "
        "lengths; each seed draws the users (positions, deadlines, weights). Epoch-based policies at the "
        "epoch chosen on tuning seeds. Effects: relative to OT-GAH, paired over seeds (as in the headline).",
        "",
    ]
    for name in TRACES:
        tr = [r for r in rs if r["config"].get("trace") == name]
        if not tr:
            out += [f"**{name}**: trace file not found in the directory; skipped.", ""]
            continue
        table = analysis.load_table(tr, "traces")
        headers = ["λ (req/s)", "offered (tok/s)", "policy", *(m[1] for m in METRICS)]
        body = []
        for x in table.rates:
            offered = estimate(table.rows("goalit", x), "offered_tps").mean
            for p in DECOMPOSITION:
                body.append([f"{x:g}", f"{offered:,.0f}", label(p)]
                            + [est(estimate(table.rows(p, x), m), d) for m, _, d in METRICS])  # fmt: skip
        out += [f"**{name}** (`{TRACES[name]}`)", "", md_table(headers, body), ""]
        eff_rows = []
        for x in table.rates:
            for m, mlabel, _ in METRICS[:2]:
                eff = paired_effects({p: seed_values(table.rows(p, x), m) for p in table.policies})
                if eff:
                    eff_rows.append([f"{x:g}", mlabel] + [pct_est(eff[n][0]) for n, _, _ in EFFECTS])
        if eff_rows:
            out += [md_table(["λ (req/s)", "metric", "batching (A)", "decision (A)", "decision (B)",
                              "batching (B)", "total"], eff_rows), ""]  # fmt: skip
    return "\n".join(out)
