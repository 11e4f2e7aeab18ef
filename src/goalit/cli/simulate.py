"""``goalit simulate``: a dynamic-load run (Model B discrete-event simulation) of a scenario."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from goalit.cli._common import (
    add_scenario_argument,
    add_seed_argument,
    int_at_most,
    positive_float,
    positive_int,
    table,
)
from goalit.cli.algorithms import policy_name
from goalit.limits import MAX_TOKENS

if TYPE_CHECKING:  # pragma: no cover
    from goalit.sim.metric_catalogue import SimMetrics

tokens = int_at_most(MAX_TOKENS, ge=1)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "simulate",
        help="simulate a scenario under dynamic load (arrivals, continuous batching, a policy)",
        description="Discrete-event simulation (Model B): requests arrive (Poisson or a trace), a policy "
        "decides where each runs, instances serve them with continuous batching (static for ot-gah).",
    )
    add_scenario_argument(p)
    p.add_argument(
        "--policy",
        "-p",
        type=policy_name,
        default="goalit",
        metavar="NAME",
        help="policy: a built-in algorithm or a plug-in, see goalit algorithms (default: goalit)",
    )
    p.add_argument("--trace", metavar="FILE", help="replay a trace: Azure CSV or Mooncake JSONL")
    p.add_argument(
        "--trace-format", choices=["azure", "mooncake"], help="trace format (default: from the suffix)"
    )
    p.add_argument(
        "--rate",
        type=positive_float,
        metavar="R",
        help="Poisson rate (req/s; default 0.1 per scenario user); with --trace: rescale to this mean rate",
    )
    p.add_argument(
        "--duration",
        type=positive_float,
        metavar="S",
        help="arrival window (s): Poisson default 60; with --trace: keep the first S seconds",
    )
    p.add_argument(
        "--horizon",
        type=positive_float,
        metavar="S",
        help="stop at S seconds and report what is unfinished (default: run until all requests are done)",
    )
    p.add_argument(
        "--time-scale", type=positive_float, metavar="X", help="multiply trace times by X (>1: less load)"
    )
    p.add_argument(
        "--length-scale", type=positive_float, metavar="X", help="multiply prompt and output lengths by X"
    )
    p.add_argument("--max-prompt-tokens", type=tokens, metavar="N", help="clip prompts to N tokens")
    p.add_argument("--max-output-tokens", type=tokens, metavar="N", help="clip outputs to N tokens")
    p.add_argument("--epoch", type=positive_float, metavar="S",
                   help="decide at epoch boundaries every S seconds (ot-gah: its epoch, default 1 s); "
                        "same as --decision-interval S")  # fmt: skip
    p.add_argument("--decision-interval", type=non_negative_float, metavar="S",
                   help="decide every S seconds, all arrived requests not yet in service playing together "
                        "(0: at each arrival; default: goalit 0.25, ot-gah and greedy 1, others 0)")  # fmt: skip
    p.add_argument(
        "--max-batch",
        type=positive_int,
        metavar="N",
        help="sequences per continuous batch (default: KV only)",
    )
    add_seed_argument(p)
    p.add_argument("--json", action="store_true", help="print the aggregate metrics as one JSON object")
    p.add_argument(
        "--out", metavar="DIR", help="write records.csv (+ records.parquet) and summary.json into DIR"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.set_defaults(func=run)


def non_negative_float(text: str) -> float:
    """argparse type: a finite number >= 0."""
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (x >= 0 and x != float("inf")):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text}")
    return x


def _decisions(m: SimMetrics) -> str:
    if not m.decisions:
        return "0"
    return (f"{m.decisions} / {m.players_per_decision_mean:.3g}, {m.players_per_decision_p95:.3g}, "
            f"{m.players_per_decision_max}")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from goalit.errors import GoalitInputError
    from goalit.outputs import check_out_dir

    if args.out is not None:
        check_out_dir(args.out, "simulate")  # before any work: never clobber a foreign path

    options = {
        "rate": args.rate,
        "duration_s": args.duration,
        "horizon_s": args.horizon,
        "time_scale": args.time_scale,
        "length_scale": args.length_scale,
        "max_prompt_tokens": args.max_prompt_tokens,
        "max_output_tokens": args.max_output_tokens,
        "trace_format": args.trace_format,
        "max_batch": args.max_batch,
    }
    options = {k: v for k, v in options.items() if v is not None}
    if args.epoch is not None:
        options["epoch_s"] = args.epoch
    if args.decision_interval is not None:
        options["decision_interval_s"] = args.decision_interval
    bar = tqdm(
        total=0,
        unit="req",
        desc="simulate",
        file=sys.stderr,
        disable=True if args.no_progress else None,
        leave=False,
        dynamic_ncols=True,
    )

    def progress(done: int, total: int) -> None:
        if bar.total != total:
            bar.total = total
        bar.update(done - bar.n)

    from goalit.sim import simulate

    try:
        result = simulate(args.scenario, policy=args.policy, workload=args.trace, seed=args.seed,
                          progress=progress, **options)  # fmt: skip
    finally:
        bar.close()
    if args.out:
        try:
            result.write(args.out)
        except OSError as err:
            raise GoalitInputError(f"--out {args.out}: cannot write ({err.strerror or err})") from None
    if args.json:
        sys.stdout.write(result.summary_json())
        return 0
    m = result.metrics
    w = result.workload
    print(f"scenario {result.scenario}, policy {args.policy}, seed {args.seed}; workload {w['source']}: "
          f"{w['requests']} requests over {w['span_s']:.4g} s")  # fmt: skip
    for note in w["transforms"]:
        print(f"  transform: {note}")
    print()
    rows = [
        ("completed / unfinished / rejected", f"{m.completed} / {m.unfinished} / {m.rejected}"),
        ("simulated time (s)", m.sim_time_s),
        ("token throughput (tokens/s)", m.token_throughput_tps),
        ("latency mean / p50 / p95 / p99 (s)", _slash(m.mean_latency_s, m.p50_latency_s, m.p95_latency_s, m.p99_latency_s)),
        ("TTFT mean / p95 (s)", _slash(m.mean_ttft_s, m.p95_ttft_s)),
        ("TPOT mean / p95 (s)", _slash(m.mean_tpot_s, m.p95_tpot_s)),
        ("mean perplexity (token-weighted)", m.mean_perplexity),
        ("decisions / players per decision mean, p95, max", _decisions(m)),
        ("decisions converged / cycled (share)", _slash(m.decisions_converged_share, m.decisions_cycled_share)),
        ("met deadline / PPL bound / both",
         _slash(m.deadline_met_share, m.perplexity_met_share, m.slo_met_share)),
        ("energy per token device / server (J)",
         _slash(m.device_energy_per_token_j, m.server_energy_per_token_j)),
        ("queueing delay mean / p95 (s)", _slash(m.mean_queue_delay_s, m.p95_queue_delay_s)),
        ("offloaded share", m.offloaded_share),
    ]  # fmt: skip
    print(table(["metric", "value"], rows))
    print()
    inst_rows = [
        (i["server"], i["level"], _num(i["busy_share"]), _num(i["token_throughput_tps"]),
         _num(i["roofline_bound_tps"]), _num(i["roofline_utilisation"]), i["max_batch"])
        for i in result.instances
    ]  # fmt: skip
    print(
        table(
            ["server", "level", "busy", "tokens/s", "roofline tokens/s", "utilisation", "max batch"],
            inst_rows,
        )
    )
    if args.out:
        print(f"\nrecords written to {args.out}")
    return 0


def _num(v: float | None) -> str:
    return "-" if v is None else f"{v:.4g}"


def _slash(*values: float | None) -> str:
    return " / ".join(_num(v) for v in values)
