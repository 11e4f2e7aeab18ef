"""Benchmark: the measured SmolLM2-135M quantization ladder on this machine and the fitted model's error.

Runs ``goalit.calibrate.run.calibrate`` on all seven levels with 20 perplexity chunks (5,100 scored
tokens, the method of docs/real-llm.md 1.5) and several latency repetitions, prints the ladder (perplexity, decode
ms/token with its spread, prefill tokens/s, bytes) and the fitted roofline's error per level, three
ways: the game's cost model fitted to all points (what the profile holds), the same model fitted to
single-stream decode and prefill only (d(n > 1) held out), and a variant with a separate decode compute
efficiency. ``--out`` writes the profile (the committed one is src/goalit/data/profiles/calibrated.toml).

``--single-thread LEVEL`` also measures LEVEL with one thread and prints the slow-down against all
threads (the measured part of the user-device factor in the ``calibrated`` scenario).

On a shared machine timings are perturbed by other processes: the run waits for quiet moments (at most
``--quiet-timeout`` s per repetition), records the other processes' load during each repetition, and
reports the best repetition with the spread. ``--save``/``--load`` pickle a run to re-report it.

    PYTHONPATH=src python benchmarks/calibrate_ladder.py [--repeats 5] [--out FILE] [--save FILE]
"""

from __future__ import annotations

import argparse
import json
import pickle
import sys
import time
from pathlib import Path

import numpy as np

from goalit.calibrate import fit, ladder, machine, measure, profile
from goalit.calibrate.run import Calibration, calibrate, fit_points


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default=",".join(ladder.LEVELS))
    ap.add_argument("--chunks", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--decode-steps", type=int, default=32)
    ap.add_argument("--batches", default="1,2,4,8")
    ap.add_argument("--threads", type=int, default=2, help="llama.cpp threads for the latency measurements")
    ap.add_argument("--ppl-threads", type=int, default=1)
    ap.add_argument("--quiet", type=float, default=0.15)
    ap.add_argument("--quiet-timeout", type=float, default=60.0)
    ap.add_argument("--single-thread", default="q4_0", help="level to measure with one thread ('' = skip)")
    ap.add_argument("--out", type=Path, default=None, help="write the profile here")
    ap.add_argument("--json", type=Path, default=None, help="write the results as JSON here")
    ap.add_argument("--save", type=Path, default=None, help="pickle the Calibration here")
    ap.add_argument(
        "--load", type=Path, default=None, help="report a pickled Calibration instead of measuring"
    )
    args = ap.parse_args()

    t0 = time.perf_counter()
    single = None
    if args.load is not None:
        with args.load.open("rb") as fh:
            cal, single = pickle.load(fh)
    else:
        settings = measure.LatencySettings(
            batches=tuple(int(b) for b in args.batches.split(",")),
            decode_steps=args.decode_steps,
            threads=args.threads,
        )
        cal = calibrate(
            ladder.parse_levels(args.levels), chunks=args.chunks, settings=settings, repeats=args.repeats,
            progress=True, quiet=args.quiet, quiet_timeout_s=args.quiet_timeout, ppl_threads=args.ppl_threads,
        )  # fmt: skip
        if args.single_thread and args.threads > 1:
            single = single_thread_factor(
                cal, args.single_thread, args.repeats, args.quiet, args.quiet_timeout
            )
        if args.save is not None:
            with args.save.open("wb") as fh:
                pickle.dump((cal, single), fh)
    wall = time.perf_counter() - t0

    print_ladder(cal, wall if args.load is None else None)
    fits = print_fits(cal)
    if single is not None:
        print(
            f"\n# {single['level']} with 1 thread vs {cal.threads}: decode d(1) x{single['decode']:.2f}, "
            f"prefill @{cal.settings.prompt_tokens} x{single['prefill']:.2f} slower"
        )
    if args.out is not None:
        doc = profile.build_profile(cal)
        if single is not None:
            doc["meta"]["single_thread"] = {
                k: (round(v, 3) if isinstance(v, float) else v) for k, v in single.items()
            }
        profile.write_profile(doc, args.out)
        print(f"\n# profile written to {args.out}")
    if args.json is not None:
        out = cal.to_dict() | {"fits": {k: f.to_dict() for k, f in fits.items()}, "single_thread": single}
        args.json.write_text(json.dumps(out, indent=1, default=float), encoding="utf-8")
    return 0


def print_ladder(cal: Calibration, wall: float | None) -> None:
    when = "" if wall is None else f"; wall {wall:.0f} s"
    print(
        f"# {cal.machine.describe()}; llama-cpp-python {cal.llama_cpp_version}; {cal.threads} threads; "
        f"{cal.date}{when}; machine shared with other jobs"
    )
    print(
        f"# measured peaks: read bandwidth {cal.mem_bw_bytes_per_s / 1e9:.2f} GB/s, "
        f"FP32 GEMM {cal.flops / 1e9:.1f} GFLOP/s"
    )
    print(
        f"# perplexity: {cal.chunks} chunks x 255 scored tokens of {cal.text_name}; "
        f"latency: {cal.repeats} repetitions round-robin, best repetition reported"
    )
    print()
    print(
        "| level | bytes | bits/w | PPL (+- s.e.) | PPL/ref | prefill tok/s @128 | decode ms/token (best) "
        "| decode p10 / median / p90 | worst rep. | other load |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    ref = next(iter(cal.levels.values())).perplexity.ppl
    for r in cal.ladder_rows():
        loads = [x for x in r["other_load"] if x == x]
        load = f"{min(loads):.2f}-{max(loads):.2f}" if loads else "n/a"
        cells = [
            r["level"], f"{r['file_bytes']:,}", f"{r['bits_per_weight']:.2f}",
            f"{r['perplexity']:.3f} (+- {r['perplexity_stderr']:.2f})", f"{r['perplexity'] / ref:.3f}",
            f"{r['prefill_tokens_per_s']:.0f}", f"{r['decode_ms_per_token']:.2f}",
            f"{r['decode_ms_p10']:.1f} / {r['decode_ms_median']:.1f} / {r['decode_ms_p90']:.1f}",
            f"{r['decode_ms_worst_repeat']:.1f}", load,
        ]  # fmt: skip
        print("| " + " | ".join(cells) + " |")


def print_fits(cal: Calibration) -> dict[str, fit.Fit]:
    """The game's cost model fitted to all points and to single-stream decode, and the variant."""
    points = fit_points({lv: r.latency for lv, r in cal.levels.items()})
    fits = {
        "all points": cal.fit,
        "single-stream": fit.fit(points, cal.constants, decode_batches=(min(cal.settings.batches),)),
        "variant": cal.fit_variant,
    }
    print_fit(cal, "game's cost model fitted to all points (the profile's)", fits["all points"])
    print_fit(cal, "game's cost model fitted to d(1) and prefill; d(n>1) held out", fits["single-stream"])
    print_fit(cal, "variant: separate decode compute efficiency eta_c_decode, all points", fits["variant"])
    return fits


def print_fit(cal: Calibration, title: str, f: fit.Fit) -> None:
    """The fitted efficiencies and the model's error at every measured point (* = held out)."""
    batches = sorted(cal.settings.batches)
    lengths = sorted(cal.settings.prefill_lengths)
    extra = "" if f.eta_c_decode is None else f", eta_c_decode = {f.eta_c_decode:.3f}"
    print(
        f"\n# fit ({title}): eta_c = {f.eta_c:.3f}{extra}, step overhead = {1e3 * f.overhead_s:.2f} ms, "
        f"rms log error (fitted points) = {f.rms_log_error:.3f}"
    )
    head = " | ".join([f"d({n}) meas / pred / err" for n in batches] + [f"prefill {s} err" for s in lengths])
    print(f"| level | eta_m | {head} |")
    print("|---|---:|" + "---:|" * (len(batches) + len(lengths)))
    for lv in cal.levels:
        rows = {(r.kind, r.x): r for r in f.rows if r.level == lv}
        cells = []
        for n in batches:
            r = rows["decode", n]
            mark = "" if r.fitted else "*"
            cells.append(
                f"{1e3 * r.measured_s:.1f} / {1e3 * r.predicted_s:.1f} / {100 * r.error:+.1f} %{mark}"
            )
        cells += [f"{100 * rows['prefill', s].error:+.1f} %" for s in lengths]
        print(f"| {lv} | {f.eta_m[lv]:.3f} | " + " | ".join(cells) + " |")
    d1 = [abs(f.errors("decode", lv)[min(batches)]) for lv in cal.levels]
    print(
        f"# max |error|: decode d({min(batches)}) {100 * max(d1):.1f} %, decode all n "
        f"{100 * f.max_abs_error('decode'):.1f} %, prefill {100 * f.max_abs_error('prefill'):.1f} %"
    )


def single_thread_factor(cal: Calibration, level: str, repeats: int, quiet: float, timeout: float) -> dict:
    """Slow-down of ``level`` with one llama.cpp thread against the calibration's threads (best repeats)."""
    st = cal.settings
    one = measure.LatencySettings(
        prompt_tokens=st.prompt_tokens, prefill_lengths=(st.prompt_tokens,), batches=(1,),
        decode_steps=st.decode_steps, threads=1,
    )  # fmt: skip
    path = cal.levels[level].path
    tokens = measure.eval_tokens(path, Path(measure.default_text_path()), st.prompt_tokens)
    samples = []
    for _ in range(repeats):
        machine.wait_for_quiet(quiet, timeout)
        samples.append(measure.latency_sample(path, tokens, one))
    d1 = min(float(np.median(s.decode_step_s[1])) for s in samples)
    pre = min(s.prefill_s[st.prompt_tokens] for s in samples)
    base = cal.levels[level].latency
    return {
        "level": level,
        "decode": d1 / base.decode_best_s[1],
        "prefill": pre / base.prefill_best_s[st.prompt_tokens],
        "decode_ms_1thread": 1e3 * d1,
        "prefill_tokens_per_s_1thread": st.prompt_tokens / pre,
    }


if __name__ == "__main__":
    sys.exit(main())
