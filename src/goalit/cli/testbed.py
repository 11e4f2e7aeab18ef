"""``goalit testbed``: real llama_cpp.server processes behind the gateway, a replayed trace, the simulator."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import goalit.limits as limits
from goalit.cli._common import add_seed_argument, int_at_most, jobs_int, positive_float, print_json
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


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "testbed",
        help="replay a trace slice through real LLM servers and the gateway; compare with the simulator",
        description="Start K LLM servers (llama.cpp's llama-server with continuous batching by default, or "
        "llama_cpp.server; extras: serve, llm) and the gateway on 127.0.0.1, "
        "replay a bounded slice of a real trace with lengths scaled to the small model, record TTFT, "
        "latency, tokens/s and perplexity, stop every process, compare with goalit simulate.",
    )
    p.add_argument(
        "--servers",
        "-k",
        type=int_at_most(MAX_SERVERS, ge=1),
        default=2,
        help=f"server processes (default 2, at most {MAX_SERVERS})",
    )
    p.add_argument(
        "--levels",
        default="q8_0,q4_0",
        help="quantization levels (default q8_0,q4_0); llama-server: server j serves level j mod L, "
        "llama-cpp-python: every server serves every level",
    )
    p.add_argument(
        "--engine",
        choices=["llama-server", "llama-cpp-python"],
        default="llama-server",
        help="server engine (default llama-server: continuous batching)",
    )
    p.add_argument(
        "--slots",
        type=int_at_most(MAX_SLOTS, ge=1),
        default=4,
        help=f"parallel sequences per llama-server (default 4, at most {MAX_SLOTS})",
    )
    p.add_argument(
        "--host-model",
        choices=["shared", "partitioned"],
        default=None,
        help="how the simulator and the gateway see the server processes on this machine: shared (one "
        "shared server hosting one variant per process) or partitioned (a server of its own per process, "
        "share 1); default: shared when llama-server processes share cores (threads x servers > CPUs), "
        "else partitioned",
    )
    p.add_argument(
        "--policy", type=solver_name, default="goalit", metavar="NAME", help="routing policy (default goalit)"
    )
    p.add_argument(
        "--requests",
        "-n",
        type=int_at_most(MAX_REQUESTS, ge=1),
        default=30,
        help=f"requests in the slice (default 30, at most {MAX_REQUESTS})",
    )
    p.add_argument(
        "--offset",
        type=int_at_most(limits.MAX_REQUESTS),
        default=0,
        help="first request of the slice (default 0)",
    )
    p.add_argument(
        "--rate",
        type=positive_float,
        default=0.5,
        help="mean arrival rate after rescaling the slice's times, req/s (default 0.5)",
    )
    p.add_argument("--trace-time", action="store_true", help="keep the trace's own times (ignore --rate)")
    p.add_argument(
        "--length-scale",
        type=positive_float,
        default=0.125,
        help="factor on prompt and output lengths (default 1/8)",
    )
    p.add_argument(
        "--max-prompt-tokens",
        type=int_at_most(N_CTX_MAX, ge=1),
        default=256,
        help="prompt length cap (default 256)",
    )
    p.add_argument(
        "--max-output-tokens",
        type=int_at_most(N_CTX_MAX, ge=1),
        default=48,
        help="output length cap (default 48)",
    )
    p.add_argument(
        "--w-quality",
        type=nonnegative_float,
        default=0.05,
        help="w_quality of the quality-sensitive half of the requests, s/nat/token (default 0.05)",
    )
    p.add_argument(
        "--threads",
        type=jobs_int,
        default=None,
        help="llama.cpp threads per server (default: logical CPUs / servers, at least 1)",
    )
    p.add_argument(
        "--n-ctx",
        type=int_at_most(N_CTX_MAX, ge=1),
        default=1024,
        help=f"context of each server (default 1024, at most {N_CTX_MAX})",
    )
    p.add_argument(
        "--swap-s",
        type=positive_float,
        default=None,
        help="level-switch time the gateway assumes, s (default: measured at start)",
    )
    p.add_argument("--trace", type=Path, default=None, help="trace file (default ../shared Azure conv trace)")
    p.add_argument("--text", type=Path, default=None, help="prompt text (default ../shared WikiText-2 test)")
    p.add_argument(
        "--profile", type=Path, default=None, help="extra profile file (default: built-in profiles)"
    )
    p.add_argument(
        "--step-table",
        type=Path,
        default=None,
        help="profile file with [meta.step_table] (measured step times) for the gateway and the simulator "
        "(default: the committed calibrated profile's, if any)",
    )
    p.add_argument("--roofline", action="store_true", help="use the roofline, not the step table, everywhere")
    p.add_argument("--llm", default=None, help="LLM profile (default: the calibrated SmolLM2 profile)")
    p.add_argument("--hardware", default=None, help="hardware profile of the servers (default: this machine)")
    p.add_argument(
        "--timeout", type=positive_float, default=300.0, help="per-request timeout, s (default 300)"
    )
    p.add_argument(
        "--work-dir", type=Path, default=None, help="where logs and configs go (default: a temp dir)"
    )
    add_seed_argument(p)
    p.add_argument("--json", action="store_true", help="print one JSON object (with per-request records)")
    p.add_argument("--out", type=Path, default=None, help="also write summary.json and requests.csv here")
    p.add_argument(
        "--quiet",
        type=share,
        default=0.25,
        metavar="F",
        help="before measuring, wait until other processes use at most this share of the CPUs "
        "(default 0.25; 1: never wait)",
    )
    p.add_argument(
        "--quiet-timeout",
        type=positive_float,
        default=60.0,
        metavar="S",
        help="longest wait for a quiet machine, then measure anyway (default 60)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from goalit.errors import GoalitInputError

    try:
        from goalit.serve.testbed import TestbedOptions, format_report, run_testbed
    except ModuleNotFoundError as err:
        raise GoalitInputError(
            f"goalit testbed needs the 'serve' and 'llm' extras ({err.name} is missing)"
        ) from None
    if args.w_quality < 0:
        raise GoalitInputError(f"--w-quality must be >= 0, not {args.w_quality}")
    if args.out is not None:
        from goalit.outputs import check_out_dir

        check_out_dir(args.out, "testbed")  # before any process starts
    levels = tuple(x.strip() for x in args.levels.split(",") if x.strip())
    opts = TestbedOptions(
        servers=args.servers,
        levels=levels,
        engine=args.engine,
        slots=args.slots,
        policy=args.policy,
        requests=args.requests,
        offset=args.offset,
        rate=None if args.trace_time else args.rate,
        length_scale=args.length_scale,
        max_prompt_tokens=args.max_prompt_tokens,
        max_output_tokens=args.max_output_tokens,
        w_quality=args.w_quality,
        threads=args.threads,
        n_ctx=args.n_ctx,
        seed=args.seed,
        trace=args.trace,
        text=args.text,
        profile=args.profile,
        llm=args.llm,
        hardware=args.hardware,
        request_timeout_s=args.timeout,
        work_dir=args.work_dir,
        quiet=args.quiet,
        swap_s=args.swap_s,
        quiet_timeout_s=args.quiet_timeout,
        step_table=args.step_table,
        use_step_table=not args.roofline,
        host_model=args.host_model,
    )
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
