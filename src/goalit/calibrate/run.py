"""The whole calibration: ladder, machine peaks, latency (round-robin repetitions), perplexity, fit."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from goalit._version import __version__
from goalit.calibrate import _llama, fit, ladder, machine, measure
from goalit.calibrate.fit import Constants, Fit
from goalit.calibrate.model import ModelInfo, base_gguf, read_model_info
from goalit.errors import GoalitInputError

DEFAULT_CHUNKS = 20  # 20 x 256 = 5,120 scored tokens; PPL stable to ~1 % (docs/real-llm.md 1.5)
DEFAULT_REPEATS = 3
DEFAULT_QUIET = 0.25  # wait until other processes use at most this share of the machine ...
DEFAULT_QUIET_TIMEOUT_S = 30.0  # ... for at most this long per latency repetition
DEFAULT_PPL_THREADS = 1  # perplexity does not depend on threads; 1 thread is robust on a busy machine


@dataclass(frozen=True)
class LevelResult:
    """Everything measured for one quantization level."""

    level: str
    path: Path
    info: ModelInfo
    perplexity: measure.Perplexity
    latency: measure.Latency


@dataclass(frozen=True)
class Calibration:
    """A finished calibration (levels ordered from highest to lowest precision)."""

    date: str
    machine: machine.MachineInfo
    threads: int
    mem_bw_bytes_per_s: float
    flops: float
    llama_cpp_version: str
    goalit_version: str
    base_file: str
    text_name: str
    text_sha256: str
    chunks: int
    repeats: int
    ppl_threads: int
    quiet: float | None
    settings: measure.LatencySettings
    levels: dict[str, LevelResult]
    fit: Fit
    fit_variant: Fit  # with a separate decode compute efficiency (not in the game's cost model)
    constants: Constants
    fit_batches: tuple[int, ...] | None  # decode batch sizes the fit used (None: all measured)
    samples: dict[str, list[measure.LatencySample]] = field(default_factory=dict, repr=False)

    def ladder_rows(self) -> list[dict[str, Any]]:
        """One summary row per level: the measured ladder and the fitted model's errors."""
        out = []
        for lv, r in self.levels.items():
            lat = r.latency
            n1 = min(lat.decode_best_s)
            out.append({
                "level": lv,
                "file_bytes": r.info.file_bytes,
                "bits_per_weight": r.info.bits_per_weight,
                "perplexity": r.perplexity.ppl,
                "perplexity_stderr": r.perplexity.stderr,
                "prefill_tokens_per_s": lat.prefill_tokens_per_s,
                "decode_ms_per_token": lat.decode_ms_per_token,
                "decode_ms_median": 1e3 * lat.decode_median_s[n1],
                "decode_ms_p10": 1e3 * lat.decode_p10_s[n1],
                "decode_ms_p90": 1e3 * lat.decode_p90_s[n1],
                "decode_ms_worst_repeat": 1e3 * lat.decode_worst_s[n1],
                "decode_ms_by_batch": {str(n): 1e3 * v for n, v in lat.decode_best_s.items()},
                "fit_decode_error": {str(n): e for n, e in self.fit.errors("decode", lv).items()},
                "fit_prefill_error": {str(s): e for s, e in self.fit.errors("prefill", lv).items()},
                "eta_m": self.fit.eta_m[lv],
                "other_load": list(lat.other_load),
            })  # fmt: skip
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "machine": self.machine.to_dict(),
            "threads": self.threads,
            "mem_bw_bytes_per_s": self.mem_bw_bytes_per_s,
            "flops": self.flops,
            "llama_cpp_python": self.llama_cpp_version,
            "text": self.text_name,
            "chunks": self.chunks,
            "repeats": self.repeats,
            "settings": asdict(self.settings),
            "ladder": self.ladder_rows(),
            "fit": {
                "decode_batches": list(self.fit_batches or self.settings.batches),
                "eta_c": self.fit.eta_c,
                "step_overhead_s": self.fit.overhead_s,
                "rms_log_error": self.fit.rms_log_error,
                "max_decode_error": self.fit.max_abs_error("decode"),
                "max_prefill_error": self.fit.max_abs_error("prefill"),
            },
            "fit_variant_separate_decode_compute": {
                "eta_c": self.fit_variant.eta_c,
                "eta_c_decode": self.fit_variant.eta_c_decode,
                "step_overhead_s": self.fit_variant.overhead_s,
                "rms_log_error": self.fit_variant.rms_log_error,
                "max_decode_error": self.fit_variant.max_abs_error("decode"),
                "max_prefill_error": self.fit_variant.max_abs_error("prefill"),
            },
        }


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def resolve_text(text_path: str | Path | None) -> Path:
    """The evaluation text: the given path, else the development copy of WikiText-2 (one-line error)."""
    if text_path is None:
        found = measure.default_text_path()
        if found is None:
            raise GoalitInputError(
                "no evaluation text: pass --text PATH (the WikiText-2 raw test file, wiki.test.raw)"
            )
        return found
    p = Path(text_path)
    if not p.is_file():
        raise GoalitInputError(f"{p}: evaluation text not found (--text)")
    return p


def calibrate(
    levels: list[str],
    chunks: int = DEFAULT_CHUNKS,
    text_path: str | Path | None = None,
    cache_dir: Path | None = None,
    settings: measure.LatencySettings | None = None,
    repeats: int = DEFAULT_REPEATS,
    progress: bool | None = None,
    quiet: float | None = DEFAULT_QUIET,
    quiet_timeout_s: float = DEFAULT_QUIET_TIMEOUT_S,
    ppl_threads: int = DEFAULT_PPL_THREADS,
    fit_batches: tuple[int, ...] | None = None,
) -> Calibration:
    """Measure every level (see the module docstrings) and fit the roofline efficiencies.

    Timings on a shared machine: llama.cpp's worker threads wait for each other at every operation, so
    when other processes hold the CPUs a step can take tens of times longer. Hence (1) before each
    latency repetition the run waits until other processes use at most ``quiet`` of the machine (at
    most ``quiet_timeout_s``; ``None``: do not wait), and records their load during the repetition;
    (2) repetitions run round-robin over the levels, so that a burst of load spreads over all levels
    instead of biasing one; (3) the best repetition is the estimate (``measure.Latency``). Perplexity,
    which does not depend on timing, runs with ``ppl_threads`` threads. ``fit_batches``: the decode
    batch sizes used by the fit (default: all measured; the others are held out and reported).
    ``progress``: show a tqdm bar on stderr (None: only on a terminal).
    """
    for lv in levels:
        ladder.check_level(lv)
    if fit_batches is not None and not set(fit_batches) & set(
        (settings or measure.LatencySettings()).batches
    ):
        raise GoalitInputError("--fit-batches: none of these batch sizes is measured (see --batches)")
    levels = sorted(dict.fromkeys(levels), key=ladder.ORDER.index)
    if chunks < 1 or repeats < 1:
        raise GoalitInputError("chunks and repeats must be >= 1")
    text = resolve_text(text_path)
    st = settings or measure.LatencySettings(threads=os.cpu_count() or 1)
    lc_version = _llama.version()
    base = base_gguf()

    total = len(levels) + 2 + repeats * len(levels) + chunks * len(levels)
    bar = tqdm(total=total, desc="calibrate", unit="step", file=sys.stderr,
               disable=None if progress is None else not progress, dynamic_ncols=True)  # fmt: skip
    try:
        bar.set_postfix_str("quantization ladder")
        paths = ladder.ensure_ladder(
            levels, cache_dir, on_generate=lambda lv: bar.set_postfix_str(f"quantize {lv}")
        )
        infos: dict[str, ModelInfo] = {}
        for lv in levels:
            infos[lv] = read_model_info(paths[lv])
            bar.update(1)

        need_prompt = max(max(st.batches) * st.prompt_tokens, *st.prefill_lengths)
        tokens = measure.eval_tokens(paths[levels[0]], text, max(chunks * measure.N_CTX, need_prompt))

        bar.set_postfix_str("machine peaks")
        bw = machine.read_bandwidth_bytes_per_s(st.threads)
        flops = machine.gemm_flops(st.threads)
        bar.update(1)

        samples: dict[str, list[measure.LatencySample]] = {lv: [] for lv in levels}
        for rep in range(repeats):
            for lv in levels:
                if quiet is not None:
                    bar.set_postfix_str(f"waiting for a quiet machine ({rep + 1}/{repeats})")
                    machine.wait_for_quiet(quiet, quiet_timeout_s)
                bar.set_postfix_str(f"latency {lv} ({rep + 1}/{repeats})")
                samples[lv].append(measure.latency_sample(paths[lv], tokens[:need_prompt], st))
                bar.update(1)

        ppl: dict[str, measure.Perplexity] = {}
        for lv in levels:
            bar.set_postfix_str(f"perplexity {lv}")
            ppl[lv] = measure.perplexity(
                paths[lv], tokens, chunks, ppl_threads, on_chunk=lambda: bar.update(1)
            )

        bar.set_postfix_str("machine peaks, fit")
        bw = max(bw, machine.read_bandwidth_bytes_per_s(st.threads))  # best of start and end of the run
        flops = max(flops, machine.gemm_flops(st.threads))
        lat = {lv: measure.summarise(samples[lv], st.prompt_tokens) for lv in levels}
        consts = fit.Constants(
            params=float(infos[levels[0]].params),
            kv_bytes_per_token=float(infos[levels[0]].kv_bytes_per_token),
            weight_bytes={lv: float(infos[lv].file_bytes) for lv in levels},
            mem_bw=bw,
            flops=flops,
        )
        fitted = fit.fit(fit_points(lat), consts, decode_batches=fit_batches)
        variant = fit.fit(fit_points(lat), consts, separate_decode_compute=True, decode_batches=fit_batches)
        bar.update(1)
    finally:
        bar.close()

    return Calibration(
        date=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        machine=machine.machine_info(),
        threads=st.threads,
        mem_bw_bytes_per_s=bw,
        flops=flops,
        llama_cpp_version=lc_version,
        goalit_version=__version__,
        base_file=base.name,
        text_name=text.name,
        text_sha256=sha256(text),
        chunks=chunks,
        repeats=repeats,
        ppl_threads=ppl_threads,
        quiet=quiet,
        settings=st,
        levels={lv: LevelResult(lv, paths[lv], infos[lv], ppl[lv], lat[lv]) for lv in levels},
        fit=fitted,
        fit_variant=variant,
        constants=consts,
        fit_batches=fit_batches,
        samples=samples,
    )


def fit_points(lat: dict[str, measure.Latency]) -> list[fit.Point]:
    """The fit's data: best decode step time per (level, batch) and best prefill time per (level, length)."""
    pts: list[fit.Point] = []
    for lv, la in lat.items():
        for n, d in la.decode_best_s.items():
            pts.append(fit.Point("decode", lv, n, d, la.context_tokens[n]))
        for s, t in la.prefill_best_s.items():
            pts.append(fit.Point("prefill", lv, s, t))
    return pts
