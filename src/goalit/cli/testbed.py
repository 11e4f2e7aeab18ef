"""``goalit testbed``: real LLM servers behind the gateway, a replayed trace, the simulator
(``goalit.experiments.testbed``); the report's text is formatted here."""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import goalit.limits as limits
from goalit.cli._common import add_seed_argument, int_at_most, jobs_int, positive_float, print_json, table
from goalit.cli.algorithms import solver_name

# Each server is a llama_cpp.server process holding every level (~0.3 GB for SmolLM2-135M); SmolLM2's
# trained context is 8192 tokens (HuggingFaceTB/SmolLM2-135M config.json, max_position_embeddings).
MAX_SERVERS = 16
MAX_REQUESTS = 100_000
N_CTX_MAX = 8192
# llama-server slots share one KV cache of n_ctx tokens; beyond 64 parallel sequences each slot's share of
# SmolLM2's 8192-token context falls below 128 tokens, shorter than the testbed's prompts.
MAX_SLOTS = 64


def nonnegative_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text[:40]!r}") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, not {text[:40]}")
    return value


def share(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text}")
    return value


# Options that map one to one onto a ``TestbedOptions`` field: (flag, short, field, type, help). An option
# not given is left out (argparse.SUPPRESS), so its default is TestbedOptions' own, stated once there;
# the parser is built without importing the testbed (``goalit --help`` loads no numpy).
_FIELDS: tuple[tuple[str, str | None, str, object, str], ...] = (
    ("--servers", "-k", "servers", int_at_most(MAX_SERVERS, ge=1), f"server processes (default 2, at most {MAX_SERVERS})"),
    ("--slots", None, "slots", int_at_most(MAX_SLOTS, ge=1), f"parallel sequences per llama-server (default 4, at most {MAX_SLOTS})"),
    ("--requests", "-n", "requests", int_at_most(MAX_REQUESTS, ge=1), f"requests in the slice (default 30, at most {MAX_REQUESTS})"),
    ("--offset", None, "offset", int_at_most(limits.MAX_REQUESTS), "first request of the slice (default 0)"),
    ("--rate", None, "rate", positive_float, "mean arrival rate after rescaling the slice's times, req/s (default 0.5)"),
    ("--length-scale", None, "length_scale", positive_float, "factor on prompt and output lengths (default 1/8)"),
    ("--max-prompt-tokens", None, "max_prompt_tokens", int_at_most(N_CTX_MAX, ge=1), "prompt length cap (default 256)"),
    ("--max-output-tokens", None, "max_output_tokens", int_at_most(N_CTX_MAX, ge=1), "output length cap (default 48)"),
    ("--w-quality", None, "w_quality", nonnegative_float, "w_quality of the quality-sensitive half of the requests, s/nat/token (default 0.05)"),
    ("--threads", None, "threads", jobs_int, "llama.cpp threads per server (default: logical CPUs / servers, at least 1)"),
    ("--n-ctx", None, "n_ctx", int_at_most(N_CTX_MAX, ge=1), f"context of each server (default 1024, at most {N_CTX_MAX})"),
    ("--swap-s", None, "swap_s", positive_float, "level-switch time the gateway assumes, s (default: measured at start)"),
    ("--trace", None, "trace", Path, "trace file (default ../shared Azure conv trace)"),
    ("--text", None, "text", Path, "prompt text (default ../shared WikiText-2 test)"),
    ("--profile", None, "profile", Path, "extra profile file (default: built-in profiles)"),
    ("--step-table", None, "step_table", Path, "profile file with [meta.step_table] (measured step times) for the gateway and the simulator (default: the committed calibrated profile's, if any)"),
    ("--llm", None, "llm", str, "LLM profile (default: the calibrated SmolLM2 profile)"),
    ("--hardware", None, "hardware", str, "hardware profile of the servers (default: this machine)"),
    ("--timeout", None, "request_timeout_s", positive_float, "per-request timeout, s (default 300)"),
    ("--work-dir", None, "work_dir", Path, "where logs and configs go (default: a temp dir)"),
    ("--quiet", None, "quiet", share, "before measuring, wait until other processes use at most this share of the CPUs (default 0.25; 1: never wait)"),
    ("--quiet-timeout", None, "quiet_timeout_s", positive_float, "longest wait for a quiet machine, then measure anyway, s (default 60)"),
)  # fmt: skip


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "testbed",
        help="replay a trace slice through real LLM servers and the gateway; compare with the simulator",
        description="Start K LLM servers (llama.cpp's llama-server with continuous batching by default, or "
        "llama_cpp.server; extras: serve, llm) and the gateway on 127.0.0.1, "
        "replay a bounded slice of a real trace with lengths scaled to the small model, record TTFT, "
        "latency, tokens/s and perplexity, stop every process, compare with goalit simulate.",
    )
    for flag, short, name, kind, help_ in _FIELDS:
        names = (flag, short) if short else (flag,)
        metavar = flag[2:].upper().replace("-", "_")
        p.add_argument(*names, dest=name, type=kind, default=argparse.SUPPRESS, metavar=metavar, help=help_)
    p.add_argument(
        "--levels",
        default=argparse.SUPPRESS,
        help="quantization levels (default q8_0,q4_0); llama-server: server j serves level j mod L, "
        "llama-cpp-python: every server serves every level",
    )
    p.add_argument(
        "--engine",
        choices=["llama-server", "llama-cpp-python"],
        default=argparse.SUPPRESS,
        help="server engine (default llama-server: continuous batching)",
    )
    p.add_argument(
        "--host-model",
        choices=["shared", "partitioned"],
        default=None,
        help="how the simulator and the gateway see the server processes on this machine: shared (one "
        "shared server hosting one variant per process, its steps add up) or partitioned (a server of its "
        "own per process); default: shared for llama-server (measured better on a busy 2-CPU machine, "
        "docs/serve.md), partitioned for llama-cpp-python",
    )
    p.add_argument("--no-pin", action="store_true", help="do not pin the servers to separate CPUs")
    p.add_argument(
        "--policy", type=solver_name, default="goalit", metavar="NAME", help="routing policy (default goalit)"
    )
    p.add_argument("--trace-time", action="store_true", help="keep the trace's own times (ignore --rate)")
    p.add_argument("--roofline", action="store_true", help="use the roofline, not the step table, everywhere")
    add_seed_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (with per-request records)")
    p.add_argument("--out", type=Path, default=None, help="also write summary.json and requests.csv here")
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goalit.errors import GoalitInputError

    try:
        from goalit.experiments.testbed import TestbedOptions, run_testbed
    except ModuleNotFoundError as err:
        raise GoalitInputError(
            f"goalit testbed needs the 'serve' and 'llm' extras ({err.name} is missing)"
        ) from None
    if args.out is not None:
        from goalit.outputs import check_out_dir

        check_out_dir(args.out, "testbed")  # before any process starts
    given = vars(args)
    fields = {name: given[name] for _, _, name, _, _ in _FIELDS if name in given}
    if "levels" in given:
        fields["levels"] = tuple(x.strip() for x in args.levels.split(",") if x.strip())
    if "engine" in given:
        fields["engine"] = args.engine
    opts = TestbedOptions(
        **fields,
        host_model=args.host_model,
        pin=not args.no_pin,
        policy=args.policy,
        seed=args.seed,
        use_step_table=not args.roofline,
    )
    if args.trace_time:
        opts = replace(opts, rate=None)
    log = None if args.no_progress else (lambda msg: print(msg, file=sys.stderr, flush=True))
    res = run_testbed(opts, log=log)
    if args.out is not None:
        write_outputs(res, args.out)
    if args.json:
        print_json({**res.summary(), "records": res.records})
    else:
        print(format_report(res))
    return 0 if res.testbed["failed"] == 0 else 1


def write_outputs(res, out: Path) -> None:
    import csv
    import io
    import json

    from goalit.outputs import write_atomic

    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "summary.json", json.dumps(res.summary(), indent=2, default=str) + "\n")
    if res.records:
        buf = io.StringIO(newline="")
        wr = csv.DictWriter(buf, fieldnames=list(res.records[0]))
        wr.writeheader()
        wr.writerows(res.records)
        write_atomic(out / "requests.csv", buf.getvalue())
        per_request_figure(res.records, out / "per_request_latency.png")


def per_request_figure(records: list[dict], path: Path) -> None:
    """Scatter of simulated (same decisions) vs measured latency per request, with the y = x line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [(r["latency_s"], r["simulated_latency_s"], r["level"]) for r in records if r["outcome"] == "ok"]
    if not pts:
        return
    fig, ax = plt.subplots(figsize=(4.5, 4.5))
    for lv in sorted({p[2] for p in pts}):
        xs = [p[0] for p in pts if p[2] == lv]
        ys = [p[1] for p in pts if p[2] == lv]
        ax.scatter(xs, ys, s=14, label=lv)
    hi = max(max(p[0] for p in pts), max(p[1] for p in pts)) * 1.05
    ax.plot([0, hi], [0, hi], "k--", lw=0.8)
    ax.set_xlabel("measured latency (s)")
    ax.set_ylabel("simulated latency (s), same decisions")
    ax.set_title("goalit testbed: per request")
    ax.legend(title="level")
    fig.tight_layout()
    tmp = path.with_name(f".{path.name}.tmp")
    fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)
    tmp.replace(path)


def format_report(res) -> str:
    """The human-readable summary printed by ``goalit testbed``."""
    from goalit.experiments.testbed.compare import rel_error
    from goalit.experiments.testbed.options import METRICS

    lines = [
        f"goalit testbed: {res.options['servers']} {res.options['engine']} processes, levels "
        f"{', '.join(res.options['levels'])}, policy {res.options['policy']}, seed {res.options['seed']}, "
        f"host model {res.processes.get('host_model', '?')}",
        f"workload: {res.workload['requests']} requests of {res.workload['source']} over "
        f"{res.workload['span_s']:.1f} s",
    ]
    lines += [f"  transform: {t}" for t in res.workload["transforms"]]
    lines.append(
        f"routing (server/level: requests): {', '.join(f'{k}: {v}' for k, v in res.routing.items())}"
    )
    sc = res.speed_check
    lines.append(
        f"speed check (idle servers, measured / profile): TTFT x{sc['mean_ttft_ratio']:.2f}, "
        f"time per output token x{sc['mean_tpot_ratio']:.2f}; level switch {sc['swap_s']:.3f} s"
    )
    rows = []
    so = res.simulated_online
    ss = res.simulated_speed_scaled
    for m in METRICS + ("p50_latency_s", "p95_ttft_s"):
        real, own, same = res.testbed.get(m), res.simulated.get(m), res.simulated_same_decisions.get(m)
        sca = (_f(ss["metrics"].get(m)), _pct(ss["error"].get(m))) if ss["metrics"] else ("-", "-")
        onl = (_f(so["metrics"].get(m)), _pct(so["error"].get(m))) if so["metrics"] else ("-", "-")
        rows.append(
            (m, _f(real), _f(own), _pct(res.error.get(m)), _f(same), _pct(res.error_same_decisions.get(m)),
             *sca, *onl)
        )  # fmt: skip
    lines.append("")
    lines.append(table(["metric", "testbed", "simulated", "error", "sim (same decisions)", "error",
                        "sim (table x speed check)", "error", "sim (online-corrected)*", "error"], rows))  # fmt: skip
    if ss["metrics"]:
        c = ss["scale"]
        lines.append(
            "sim (table x speed check): same decisions, the step table scaled by the speed check before the "
            f"replay ({_factors(c)})"
        )
    if so["metrics"]:
        c = so["corrections"]
        lines.append(
            "* a diagnostic, not a prediction: same decisions, step table x the gateway's online corrections "
            f"learnt during this run ({_factors(c)})"
        )
    if len(res.error_by_host_model) > 1:
        lines.append(
            "same decisions under each host model (error %, "
            + ", ".join(METRICS[:5])
            + "): "
            + "; ".join(
                f"{hm}{' (in effect)' if hm == res.processes.get('host_model') else ''} "
                + " / ".join(_pct(e.get(m)) for m in METRICS[:5])
                for hm, e in res.error_by_host_model.items()
            )
        )
    con = res.speed_check.get("contention")
    if con:
        lines.append(
            "what the server processes share (time per output token, all decoding at once / alone): "
            + ", ".join(f"{k} x{v:.2f}" for k, v in con["ratio"].items())
        )
    t = res.testbed
    lines.append("")
    lines.append(
        f"requests: {t['completed']} completed, {t['failed']} failed {t['outcomes']}; "
        f"{t['rerouted']} re-routed; {t['tokens_mismatch']} with a token count other than asked; "
        f"{t['level_switches']} level switches on the servers (not in the simulator)"
    )
    p = res.processes
    lines.append(
        f"processes: {p['started']} started, {len(p['left_running'])} left running; "
        f"wall {p['wall_s']:.1f} s; CPUs per server {p.get('cpus_per_server')}; load average "
        f"{' '.join(f'{x:.2f}' for x in p['load_average'])}"
    )
    bg = p["background_load"]
    lines.append(
        f"other processes used {100 * bg['other_share_during_replay']:.0f} % of the {bg['logical_cpus']} "
        f"CPUs during the replay ({100 * bg['other_share_before']:.0f} % just before)"
    )
    pe = res.prediction
    if pe["requests"]:
        lines.append(
            f"gateway's predicted latency (x-goalit-predicted-latency-s) vs measured, {pe['requests']} requests: "
            f"median |error| {pe['median_abs_pct']:.1f} %, mean |error| {pe['mean_abs_pct']:.1f} %, "
            f"median signed {pe['median_signed_pct']:+.1f} %"
        )
    lines.append(f"performance model: {'step table of ' + res.step_table if res.step_table else 'roofline'}")
    lines.append("")
    lines.append("per request (same decisions): measured vs simulated latency, s")
    lines += [
        f"  {r['index']:>3} {r['backend'] or '-':>7}/{r['level'] or '-':<5} measured {r['latency_s']:7.3f}  "
        f"simulated {r['simulated_latency_s']:7.3f}  ({_pct(rel_error(r['simulated_latency_s'], r['latency_s']))})"
        for r in res.records
    ]
    lines.append("error = (simulated - testbed) / testbed")
    return "\n".join(lines)


def _f(x):
    return "-" if x is None else float(x)


def _pct(x):
    return "-" if x is None else f"{100 * x:+.1f} %"


def _factors(c: dict) -> str:
    """'decode LEVEL xF, ...; prefill LEVEL xF, ...' of a {decode: {...}, prefill: {...}} scale table."""
    part = lambda kind: ", ".join(f"{k} x{v:.2f}" for k, v in c[kind].items())  # noqa: E731
    return f"decode {part('decode')}; prefill {part('prefill')}"
