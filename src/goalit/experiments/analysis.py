"""Turning rows into the comparisons of the report: epoch-tuned policies at their chosen epoch, GOALIT vs
OT-GAH, and the decomposition of the gap into a batching and a decision effect.

Epoch choice (fixed before any run; docs/experiments.md): every epoch-tuned policy (OT-GAH and the
decomposition variants, ``Traits.epoch_grid_s``) is simulated at every epoch length T_e of the plan's
grid on separate *tuning* seeds (``Plan.tuning_seed_list``). Per configuration (load, servers, variant)
the chosen T_e is, for simulator rows, the one with the lowest mean latency among those whose mean
steady-state throughput is within ``THROUGHPUT_TIE`` of the best (throughput first, then latency), and
for capacity rows the one with the highest mean capacity at SLO (ties: the shorter T_e). The comparison
then uses the evaluation seeds at that T_e only. Without tuning rows (``tuning_seeds = 0``) the choice
is made on the evaluation rows themselves, which can only favour the tuned policy.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from goalit.experiments.plan import TUNE_SEED_BASE
from goalit.experiments.results import Row, estimate, group, select
from goalit.experiments.stats import Estimate, mean_ci, relative_change
from goalit.solvers.contract import traits_of

EPOCH_KEY = "epoch_s"
SELECT_BY = ("steady_throughput_tps", "mean_latency_s")
THROUGHPUT_TIE = 0.01  # relative: throughputs within 1 % of the best count as tied


def config_without_epoch(r: Row) -> str:
    return json.dumps({k: v for k, v in r["config"].items() if k != EPOCH_KEY}, sort_keys=True)


def epoch_tuned(policy: str) -> bool:
    """Whether the experiments tune ``policy`` over epoch lengths (``Traits.epoch_grid_s``)."""
    return bool(traits_of(policy).epoch_grid_s)


def _tuning(r: Row) -> bool:
    return int(r["seed"]) >= TUNE_SEED_BASE


def best_epoch(
    rows: Sequence[Row], experiment: str = "load"
) -> tuple[float | None, dict[float, tuple[Estimate, Estimate]]]:
    """(chosen epoch, {epoch: (score, tie-break)}) among the rows of ONE configuration of an epoch-tuned
    policy (module docstring); tuning rows are used when there are any."""
    tuning = [r for r in rows if _tuning(r)]
    rows = tuning or list(rows)
    by_epoch = group(rows, lambda r: r["config"].get(EPOCH_KEY))
    if experiment == "capacity":
        scores = {
            e: (estimate(rs, "capacity_rps"), estimate(rs, "capacity_rps")) for e, rs in by_epoch.items()
        }
        if not scores:
            return None, {}
        top = max(s.mean for s, _ in scores.values())
        return min(e for e, (s, _) in scores.items() if s.mean >= top - 1e-12), dict(sorted(scores.items()))
    key = (
        SELECT_BY[0]
        if any(isinstance(r.get(SELECT_BY[0]), (int, float)) for r in rows)
        else "window_throughput_tps"
    )
    scores = {e: (estimate(rs, key), estimate(rs, SELECT_BY[1])) for e, rs in by_epoch.items()}
    if not scores:
        return None, {}
    top = max(thr.mean for thr, _ in scores.values())
    tied = [e for e, (thr, _) in scores.items() if thr.mean >= top - THROUGHPUT_TIE * abs(top)]
    return min(tied, key=lambda e: (scores[e][1].mean, e)), dict(sorted(scores.items()))


def _evaluated(rs: Sequence[Row], e: float | None) -> list[Row]:
    """The evaluation rows at epoch ``e`` (tuning rows never enter a comparison)."""
    return [r for r in rs if not _tuning(r) and r["config"].get(EPOCH_KEY) == e]


def with_best_epochs(rows: Sequence[Row]) -> tuple[list[Row], dict[str, float | None]]:
    """Rows where every configuration of an epoch-tuned policy keeps only its evaluation rows at the
    chosen epoch; the choices by configuration."""
    out = [r for r in rows if not epoch_tuned(r["policy"]) and not _tuning(r)]
    chosen: dict[str, float | None] = {}
    tuned = [r for r in rows if epoch_tuned(r["policy"])]
    for (_, cfg), rs in group(tuned, lambda r: (r["policy"], config_without_epoch(r))).items():
        e, _ = best_epoch(rs, rs[0]["experiment"])
        chosen[cfg] = e
        out += _evaluated(rs, e)
    return out, chosen


@dataclass
class LoadTable:
    """E1-E3 rows by (policy, rate), OT-GAH at its best epoch per rate."""

    rates: list[float]
    policies: list[str]
    series: dict[tuple[str, float], list[Row]]
    # keyed by (policy, rate), for the epoch-tuned policies
    chosen_epoch: dict[tuple[str, float], float | None] = field(default_factory=dict)
    epoch_scores: dict[tuple[str, float], dict[float, tuple[Estimate, Estimate]]] = field(
        default_factory=dict
    )
    columns: list[str] = field(default_factory=list)

    def has(self, column: str) -> bool:
        return column in self.columns and any(
            isinstance(r.get(column), (int, float)) for rs in self.series.values() for r in rs
        )

    def curve(self, policy: str, column: str) -> tuple[list[float], list[Estimate]]:
        xs = [x for x in self.rates if (policy, x) in self.series]
        return xs, [estimate(self.series[(policy, x)], column) for x in xs]

    def rows(self, policy: str, rate: float) -> list[Row]:
        return self.series.get((policy, rate), [])

    @property
    def n_seeds(self) -> int:
        return len({r["seed"] for rs in self.series.values() for r in rs})


def load_table(rows: Sequence[Row], experiment: str = "load") -> LoadTable:
    rs = select(rows, experiment)
    rates = sorted({r["config"]["rate_per_s"] for r in rs})
    policies = list(dict.fromkeys(r["policy"] for r in rs))
    series: dict[tuple[str, float], list[Row]] = {}
    chosen, scores = {}, {}
    for (policy, rate), g in group(rs, lambda r: (r["policy"], r["config"]["rate_per_s"])).items():
        if epoch_tuned(policy):
            e, sc = best_epoch(g)
            chosen[(policy, rate)], scores[(policy, rate)] = e, sc
            g = _evaluated(g, e)
        else:
            g = [r for r in g if not _tuning(r)]
        if g:
            series[(policy, rate)] = sorted(g, key=lambda r: r["seed"])
    columns = sorted({k for r in rs for k in r})
    return LoadTable(rates, policies, series, chosen, scores, columns)


FACTOR_NAMES = {"bandwidth_hz": "AP bandwidth W", "hardware": "server hardware", "llm": "model family"}


def factor_label(factor: str, value: Any) -> str:
    if factor == "bandwidth_hz":
        return f"{float(value) / 1e6:g} MHz"
    if factor == "hardware":
        return {"mix": "2×4090+2×Orin", "rtx-4090": "4×RTX 4090", "jetson-agx-orin-64gb": "4×AGX Orin"}.get(
            value, str(value)
        )
    return str(value)


def sensitivity_table(rows: Sequence[Row], plan: Any) -> dict[str, dict[Any, dict[str, list[Row]]]]:
    """{factor: {value: {policy: rows}}}; the base scenario's rows appear under every factor."""
    from goalit.experiments.dynamic import SENSITIVITY_FACTORS, sensitivity_defaults

    defaults = sensitivity_defaults(plan)
    out: dict[str, dict[Any, dict[str, list[Row]]]] = {f: {} for f in SENSITIVITY_FACTORS}
    for r in rows:
        varied = [f for f in SENSITIVITY_FACTORS if f in r["config"]]
        targets = varied or list(SENSITIVITY_FACTORS)
        for f in targets:
            v = r["config"].get(f, defaults[f])
            out[f].setdefault(v, {}).setdefault(r["policy"], []).append(r)
    for f in out:
        out[f] = dict(sorted(out[f].items(), key=lambda kv: (kv[0] != defaults[f], _sortable(kv[0]))))
    return out


def window_gains(table: LoadTable) -> dict[float, list[tuple[float, float]]]:
    """{rate: [(window length D' in s, mean Theta_GOALIT(D') / mean Theta_OT-GAH(D') - 1)]} from
    ``window_curve_tps`` (throughput over the first D' = f D seconds of the same runs)."""
    from goalit.experiments.dynamic import WINDOW_FRACTIONS

    out: dict[float, list[tuple[float, float]]] = {}
    for x in table.rates:
        a, b = table.rows("goalit", x), table.rows("ot-gah", x)
        curves_a = [r["window_curve_tps"] for r in a if isinstance(r.get("window_curve_tps"), list)]
        curves_b = [r["window_curve_tps"] for r in b if isinstance(r.get("window_curve_tps"), list)]
        if not curves_a or not curves_b:
            continue
        ma, mb = np.mean(curves_a, axis=0), np.mean(curves_b, axis=0)
        d = float(a[0]["config"]["duration_s"])
        out[x] = [(f * d, float(ma[k] / mb[k] - 1.0) if mb[k] > 0 else float("nan"))
                  for k, f in enumerate(WINDOW_FRACTIONS)]  # fmt: skip
    return out


@dataclass(frozen=True)
class Comparison:
    """GOALIT vs OT-GAH on one metric at one configuration: means, ratio-of-means change, paired CI."""

    metric: str
    goalit: Estimate
    otgah: Estimate
    change: float  # mean(GOALIT) / mean(OT-GAH) - 1
    paired: Estimate  # per-seed GOALIT/OT-GAH - 1 (common random numbers), with its CI


def compare(a_rows: Sequence[Row], b_rows: Sequence[Row], metric: str) -> Comparison:
    """Compare rows of GOALIT (``a_rows``) and OT-GAH (``b_rows``), paired by seed."""
    a = {r["seed"]: r.get(metric) for r in a_rows}
    b = {r["seed"]: r.get(metric) for r in b_rows}
    seeds = sorted(set(a) & set(b))
    av = [_f(a[s]) for s in seeds]
    bv = [_f(b[s]) for s in seeds]
    change, paired = relative_change(av, bv)
    return Comparison(metric, estimate(a_rows, metric), estimate(b_rows, metric), change, paired)


def _sortable(v: Any) -> tuple[int, Any]:
    return (0, float(v)) if isinstance(v, (int, float)) else (1, str(v))


def _f(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) else float("nan")


# --- decomposition: batching effect and decision effect ---------------------------------------------
# The four policies: GOALIT (G), OT-GAH (O: static batches, epochs), OT-GAH's planner on continuous
# batching (C), GOALIT on epochs with static batches (E). Two paths from O to G:
#   path A: O -> C (batching effect) -> G (decision effect),
#   path B: O -> E (decision effect) -> G (batching effect).
# Per seed s (common random numbers) every effect is a difference normalised by OT-GAH's value,
# (x_to - x_from) / x_O (``relative``) or the plain difference x_to - x_from (capacity, in req/s),
# so on each seed batching + decision = total exactly, on both paths, and so do their means.
EFFECTS = (
    (
        "batching effect, path A (OT-GAH → OT-GAH planner on continuous batching)",
        "ot-gah",
        "ot-gah-continuous",
    ),
    ("decision effect, path A (OT-GAH planner continuous → GOALIT)", "ot-gah-continuous", "goalit"),
    ("decision effect, path B (OT-GAH → GOALIT on epochs)", "ot-gah", "goalit-epochs"),
    ("batching effect, path B (GOALIT on epochs → GOALIT)", "goalit-epochs", "goalit"),
    ("total (OT-GAH → GOALIT)", "ot-gah", "goalit"),
)


def paired_effects(
    by_policy: dict[str, dict[int, float]], relative: bool = True
) -> dict[str, tuple[Estimate, dict[int, float]]]:
    """{effect: (Estimate over seeds, per-seed values)} for ``EFFECTS``; ``by_policy[p][seed]`` = metric.
    Only seeds where all four policies have a finite value (and OT-GAH's is non-zero if ``relative``)."""
    need = ("goalit", "ot-gah", "ot-gah-continuous", "goalit-epochs")
    if not all(p in by_policy for p in need):
        return {}
    seeds = sorted(set.intersection(*(set(by_policy[p]) for p in need)))
    seeds = [s for s in seeds if all(np.isfinite(by_policy[p][s]) for p in need)]
    if relative:
        seeds = [s for s in seeds if by_policy["ot-gah"][s] != 0]
    out = {}
    for name, a, b in EFFECTS:
        vals = {}
        for s in seeds:
            d = by_policy[b][s] - by_policy[a][s]
            vals[s] = d / by_policy["ot-gah"][s] if relative else d
        out[name] = (mean_ci(list(vals.values())), vals)
    return out


def seed_values(rows: Sequence[Row], metric: str) -> dict[int, float]:
    return {int(r["seed"]): _f(r.get(metric)) for r in rows}


def averaged_effects(
    table: LoadTable, metric: str, rates: Sequence[float]
) -> dict[str, tuple[Estimate, dict[int, float]]]:
    """Effects averaged over ``rates``: per seed, the mean over rates of its per-rate effect."""
    per_seed: dict[str, dict[int, list[float]]] = {}
    for x in rates:
        eff = paired_effects({p: seed_values(table.rows(p, x), metric) for p in table.policies})
        for name, (_, vals) in eff.items():
            for s, v in vals.items():
                per_seed.setdefault(name, {}).setdefault(s, []).append(v)
    out = {}
    for name, by in per_seed.items():
        full = {s: float(np.mean(v)) for s, v in by.items() if len(v) == len(rates)}
        out[name] = (mean_ci(list(full.values())), full)
    return out
