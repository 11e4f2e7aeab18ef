"""``goalit calibrate``: measure the SmolLM2-135M quantization ladder on this machine, fit the cost model.

Needs the optional extra ``goalit[llm]``; ``llama_cpp`` is imported inside ``goalit.calibrate`` only,
when the command runs, so ``goalit --help`` works without it (exit 2 with one line if it is missing).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import tomli_w

from goalit.cli._common import int_at_most, jobs_int, print_json, table

LEVELS_HELP = "f16,q8_0,q5_0,q4_k_m,q4_0,q3_k_m,q2_k"
# Stated limits (exit 2 above them): WikiText-2 test has ~560 chunks of 512 tokens; SmolLM2's context is
# 8192 tokens (max_position_embeddings), which bounds a prompt and a decode run; batches beyond 256
# sequences exceed the KV cache llama.cpp allocates for that context.
MAX_CHUNKS = 1000
MAX_REPEATS = 100
MAX_CONTEXT = 8192
MAX_BATCH = 256


def _int_list(text: str) -> tuple[int, ...]:
    values = tuple(int_at_most(MAX_BATCH, ge=1)(t) for t in text.split(",") if t.strip())
    if not values:
        raise argparse.ArgumentTypeError("must list at least one integer")
    return tuple(sorted(set(values)))


def _levels(text: str) -> list[str]:
    # Validated here without importing llama_cpp (goalit.calibrate.ladder imports it lazily).
    from goalit.calibrate.ladder import parse_levels
    from goalit.errors import GoalitInputError

    try:
        return parse_levels(text)
    except GoalitInputError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def _name(text: str) -> str:
    if not text or not all(c.isalnum() or c in "-_" for c in text):
        raise argparse.ArgumentTypeError(f"profile names use letters, digits, '-' and '_', not {text!r}")
    return text


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "calibrate",
        help="measure a real quantized LLM on this machine, write a calibrated profile (extra goalit[llm])",
        description="Generate the SmolLM2-135M quantization ladder, measure perplexity (WikiText-2, llama.cpp"
        " "
        "convention), prefill and decode latency per level, fit the roofline efficiencies of the cost model "
        "and write a hardware + LLM profile TOML.",
    )
    p.add_argument(
        "--levels",
        type=_levels,
        default=None,
        metavar="LIST",
        help=f"comma-separated quantization levels (default: {LEVELS_HELP})",
    )
    p.add_argument(
        "--chunks",
        type=int_at_most(MAX_CHUNKS, ge=1),
        default=None,
        metavar="N",
        help="512-token WikiText-2 chunks for perplexity (default: 20)",
    )
    p.add_argument(
        "--text",
        type=Path,
        default=None,
        metavar="PATH",
        help="evaluation text, WikiText-2 raw test (default: ../shared/data/text/wikitext-2-raw-test.txt "
        "next to the repository, if present)",
    )
    p.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="folder of the generated GGUF files (default: $GOALIT_CACHE/models or ~/.cache/goalit/models)",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=Path("calibrated-profile.toml"),
        metavar="FILE",
        help="profile file to write, atomically; an existing file is refused (default: calibrated-profile.toml)",
    )
    p.add_argument(
        "--repeats",
        type=int_at_most(MAX_REPEATS, ge=1),
        default=None,
        metavar="N",
        help="latency repetitions per level, run round-robin over the levels (default: 3)",
    )
    p.add_argument(
        "--batches",
        type=_int_list,
        default=(1, 2, 4, 8),
        metavar="LIST",
        help="decode batch sizes n measured for d(n) (default: 1,2,4,8)",
    )
    p.add_argument(
        "--fit-batches",
        type=_int_list,
        default=None,
        metavar="LIST",
        help="decode batch sizes that enter the fit; the others are held out (default: all of --batches)",
    )
    p.add_argument(
        "--prompt-tokens",
        type=int_at_most(MAX_CONTEXT // 4, ge=1),
        default=128,
        metavar="N",
        help="prompt length per sequence; prefill tokens/s is reported at this length (default: 128)",
    )
    p.add_argument(
        "--decode-steps",
        type=int_at_most(MAX_CONTEXT, ge=1),
        default=32,
        metavar="N",
        help="timed decode steps per batch size and repetition (default: 32)",
    )
    p.add_argument(
        "--threads",
        type=jobs_int,
        default=None,
        metavar="N",
        help="llama.cpp threads (default: all logical CPUs; 1 with --step-table, as a testbed server)",
    )
    p.add_argument(
        "--step-table",
        action="store_true",
        help="instead of the ladder: measure decode-step times per level x batch x context and prefill "
        "times on llama.cpp's llama-server (continuous batching) and store them as [meta.step_table] in "
        "--out (an existing profile keeps everything else; default levels q8_0,q4_0, --threads 1)",
    )
    p.add_argument(
        "--slots",
        type=int_at_most(MAX_BATCH, ge=1),
        default=4,
        help=f"--step-table: llama-server slots = largest batch (default 4, at most {MAX_BATCH})",
    )
    p.add_argument(
        "--ppl-threads",
        type=jobs_int,
        default=1,
        metavar="N",
        help="llama.cpp threads for perplexity, which does not depend on timing (default: 1, robust "
        "on a busy machine)",
    )
    p.add_argument(
        "--quiet",
        type=_fraction,
        default=0.25,
        metavar="F",
        help="before each latency repetition, wait until other processes use at most this share of "
        "the CPUs (default: 0.25; 1: never wait)",
    )
    p.add_argument(
        "--quiet-timeout",
        type=_positive_float,
        default=30.0,
        metavar="S",
        help="longest wait for a quiet machine per repetition, then measure anyway (default: 30)",
    )
    p.add_argument(
        "--hardware-name",
        type=_name,
        default="this-machine-cpu",
        metavar="NAME",
        help="name of the hardware profile (default: this-machine-cpu)",
    )
    p.add_argument(
        "--llm-name",
        type=_name,
        default="smollm2-135m",
        metavar="NAME",
        help="name of the LLM profile (default: smollm2-135m)",
    )
    p.add_argument(
        "--power-w",
        type=_positive_float,
        default=None,
        metavar="W",
        help="server power for the profile (default: 5 W per logical CPU, an assumption)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the tables")
    p.set_defaults(func=run)  # fmt: skip


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], not {text}")
    return value


def _positive_float(text: str) -> float:
    from goalit.cli._common import positive_float

    return positive_float(text)


def run(args: argparse.Namespace) -> int:
    from goalit.calibrate import _llama, ladder, measure, profile
    from goalit.calibrate.model import base_gguf
    from goalit.calibrate.run import DEFAULT_CHUNKS, DEFAULT_REPEATS, calibrate, resolve_text
    from goalit.outputs import check_out_file

    if not args.step_table:  # --step-table merges into an existing profile by design (its help says so)
        check_out_file(args.out)  # before any work: an existing file is never overwritten
    _llama.llama_cpp()  # the optional extra: one-line error (exit 2) if missing
    base_gguf()
    resolve_text(args.text)  # fail before the long measurement
    if args.step_table:
        return run_step_table(args)
    settings = measure.LatencySettings(
        prompt_tokens=args.prompt_tokens,
        prefill_lengths=tuple(sorted({32, args.prompt_tokens, 3 * args.prompt_tokens})),
        batches=args.batches,
        decode_steps=args.decode_steps,
        threads=args.threads or os.cpu_count() or 1,
    )
    cal = calibrate(
        levels=args.levels or list(ladder.LEVELS),
        chunks=args.chunks or DEFAULT_CHUNKS,
        text_path=args.text,
        cache_dir=args.cache,
        settings=settings,
        repeats=args.repeats or DEFAULT_REPEATS,
        progress=False if args.no_progress else None,
        quiet=None if args.quiet >= 1.0 else args.quiet,
        quiet_timeout_s=args.quiet_timeout,
        ppl_threads=args.ppl_threads,
        fit_batches=args.fit_batches,
    )
    doc = profile.build_profile(cal, args.hardware_name, args.llm_name, args.power_w)
    path = profile.write_profile(doc, args.out)
    if args.json:
        print_json({"profile": str(path), **cal.to_dict()})
        return 0
    print(
        f"calibrated {len(cal.levels)} levels on {cal.machine.describe()}, {cal.threads} threads, "
        f"llama-cpp-python {cal.llama_cpp_version}; perplexity on {cal.chunks} chunks of {cal.text_name}"
    )
    rows = []
    for r in cal.ladder_rows():
        rows.append(
            (
                r["level"],
                r["file_bytes"],
                round(r["bits_per_weight"], 2),
                f"{r['perplexity']:.3f} +- {r['perplexity_stderr']:.2f}",
                round(r["prefill_tokens_per_s"], 1),
                round(r["decode_ms_per_token"], 2),
                f"{r['decode_ms_p10']:.1f} / {r['decode_ms_median']:.1f} / {r['decode_ms_p90']:.1f}",
                round(r["decode_ms_worst_repeat"], 1),
            )
        )
    print(
        table(
            [
                "level",
                "bytes",
                "bits/w",
                "PPL",
                "prefill tok/s",
                "decode ms/tok",
                "p10/median/p90",
                "worst repeat",
            ],
            rows,
        )
    )
    print()
    f = cal.fit
    print(
        f"fitted model: eta_c {f.eta_c:.3g} of {cal.flops / 1e9:.3g} GFLOP/s, step overhead "
        f"{1e3 * f.overhead_s:.3g} ms, eta_m of {cal.mem_bw_bytes_per_s / 1e9:.3g} GB/s per level below"
    )
    batches = sorted(cal.settings.batches)
    lengths = sorted(cal.settings.prefill_lengths)
    level_rows: list[tuple[object, ...]] = []
    for lv in cal.levels:
        de, pe = f.errors("decode", lv), f.errors("prefill", lv)
        level_rows.append(
            (
                lv,
                round(f.eta_m[lv], 3),
                *(f"{100 * de[n]:+.1f}" for n in batches),
                *(f"{100 * pe[s]:+.1f}" for s in lengths),
            )
        )
    print(
        table(
            ["level", "eta_m", *(f"d({n}) err %" for n in batches), *(f"pre{s} err %" for s in lengths)],
            level_rows,
        )
    )
    print(f"\nprofile written to {path}")
    return 0  # fmt: skip


def run_step_table(args: argparse.Namespace) -> int:
    """``goalit calibrate --step-table``: measure the llama-server step table, merge it into ``--out``."""
    from goalit.calibrate import profile
    from goalit.calibrate.step_measure import StepTableSettings, measure_step_table
    from goalit.physics.step_table import held_out_errors
    from goalit.scenario.toml_io import read_toml
    from goalit.serve.llama_server import llama_server_binary

    llama_server_binary()  # one-line error if it is not built
    threads = args.threads or 1
    levels = args.levels or ["q8_0", "q4_0"]
    settings = StepTableSettings(
        batches=tuple(range(1, args.slots + 1)), threads=threads, slots=args.slots,
        repeats=args.repeats or StepTableSettings.repeats,
    )  # fmt: skip
    say = (lambda msg: None) if args.no_progress else (lambda msg: print(msg, file=sys.stderr, flush=True))
    table_ = measure_step_table(levels, settings, args.text, say=say)
    errs = held_out_errors(table_)
    meta = table_.to_meta()
    meta["held_out"] = {lv: {k: round(v, 2) if isinstance(v, float) else v for k, v in e.items()}
                        for lv, e in errs.items()}  # fmt: skip
    doc = read_toml(args.out) if args.out.exists() else {}
    doc.setdefault("meta", {})["step_table"] = meta
    path = profile.write_atomic(args.out, _header(args.out) + tomli_w.dumps(doc))
    if args.json:
        print_json({"profile": str(path), "step_table": meta})
        return 0
    print(f"step table of {', '.join(levels)} on llama-server ({threads} thread(s), {args.slots} slots) "
          f"written to {path}")  # fmt: skip
    rows = [(lv, e["points"], f"{e['median_pct']:.1f}", f"{e['max_pct']:.1f}", f"{e['context_median_pct']:.1f}",
             f"{e['context_max_pct']:.1f}", f"{e['prefill_median_pct']:.1f}", f"{e['prefill_max_pct']:.1f}")
            for lv, e in errs.items()]  # fmt: skip
    print(table(["level", "held-out points", "median |err| %", "max |err| %", "along context median %",
                 "along context max %", "prefill median %", "prefill max %"], rows))  # fmt: skip
    return 0


def _header(path: Path) -> str:
    """The comment lines at the top of an existing profile file (kept when the table is merged in)."""
    if not path.exists():
        return "# Profile written by `goalit calibrate --step-table` (goalit.calibrate.step_measure).\n\n"
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return "\n".join(lines) + "\n\n"
