"""Seeded fuzz corpora for every input surface of goalit, and the checks every case must pass.

Surfaces: scenario files, traces (Azure CSV / Mooncake JSONL), the flags of every command, the Python
API's entry points. (The gateway's HTTP surface is in ``goalit_fuzz_http``.) Each generator takes a
``random.Random`` and yields cases; the same seed gives the same corpus. A case passes when:

* no traceback: the command returns an exit code (or the API returns / raises ``GoalitInputError``);
* no hang: it ends within the case's time limit (``signal.alarm``);
* right exit: 0, or 2 with exactly one stderr line ``goalit...: error: ...``; no warning on stderr of a
  successful run, no stdout on an error;
* nothing touched: the sentinel files and directories in the working folder are unchanged, and a
  failed case created nothing.

The fast slices run in the test suite (``tests/test_fuzz.py``); ``benchmarks/fuzz_inputs.py`` runs
thousands of cases and prints the figures per surface.
"""

from __future__ import annotations

import bz2
import contextlib
import copy
import gzip
import hashlib
import io
import json
import math
import os
import random
import re
import signal
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

TRACES = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
ERROR_LINE = re.compile(r"^goalit(?: [a-z-]+)*: error: \S")


class Hang(BaseException):
    """Raised by SIGALRM in a case that ran past its time limit."""


# ----------------------------------------------------------------------------------------------------
# running a case


@dataclass
class Outcome:
    surface: str
    label: str
    code: int | None = None
    err: str = ""
    traceback: str = ""
    hang: bool = False
    wrong_exit: str = ""
    touched: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.traceback or self.hang or self.wrong_exit or self.touched)

    def describe(self) -> str:
        what = (
            ("traceback: " + self.traceback.strip().splitlines()[-1]) if self.traceback else
            "hang" if self.hang else f"wrong exit: {self.wrong_exit}" if self.wrong_exit else
            f"touched: {self.touched}"
        )  # fmt: skip
        return f"[{self.surface}] {self.label}: {what}"


def snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root`` with a hash of its content ("dir" for folders)."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for d in dirnames:
            out[os.path.relpath(os.path.join(dirpath, d), root)] = "dir"
        for f in filenames:
            p = os.path.join(dirpath, f)
            try:
                out[os.path.relpath(p, root)] = hashlib.sha1(Path(p).read_bytes()).hexdigest()
            except OSError:
                out[os.path.relpath(p, root)] = "unreadable"
    return out


SENTINELS = {
    "existing.txt": "precious\n",
    "full/keep.txt": "keep me\n",
    "prevsim/summary.json": "{}\n",
    "inputs/.keep": "",
}


def make_sandbox(root: Path) -> Path:
    """A working folder with sentinel files an ``--out`` must never overwrite."""
    root.mkdir(parents=True, exist_ok=True)
    for rel, text in SENTINELS.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return root


@contextlib.contextmanager
def _alarm(seconds: float):
    def ring(signum, frame):
        raise Hang()

    old = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def run_cli(
    surface: str, argv: list[str], sandbox: Path, timeout_s: float = 60.0, label: str = ""
) -> Outcome:
    """``goalit ARGV`` in this process (``goalit.cli.main``), in ``sandbox``, classified."""
    import warnings

    from goalit.cli import main

    out = Outcome(surface, label or " ".join(a[:40] for a in argv))
    before = snapshot(sandbox)
    stdout, stderr = io.StringIO(), io.StringIO()
    cwd = os.getcwd()
    t0 = time.perf_counter()
    try:
        os.chdir(sandbox)
        with _alarm(timeout_s), contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
            with warnings.catch_warnings():
                warnings.simplefilter("default")  # every warning printed, as in a fresh process
                try:
                    out.code = main(argv)
                except SystemExit as exc:
                    out.code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except Hang:
        out.hang = True
    except BaseException:  # noqa: BLE001 - the whole point: anything escaping is a traceback
        out.traceback = traceback.format_exc()
    finally:
        os.chdir(cwd)
        out.seconds = time.perf_counter() - t0
    out.err = stderr.getvalue()
    if not (out.hang or out.traceback):
        out.wrong_exit = exit_problem(out.code, stdout.getvalue(), out.err)
    after = snapshot(sandbox)
    out.touched = touched(before, after, failed=out.code != 0)
    return out


def exit_problem(code: int | None, stdout: str, stderr: str) -> str:
    """'' if (code, stdout, stderr) keep the promise, else what is wrong."""
    if "Traceback" in stderr:
        return "traceback text on stderr"
    if code == 0:
        if re.search(r"Warning|warning:", stderr):
            return "warning on stderr of a successful run: " + stderr.strip().splitlines()[0][:120]
        return ""
    if code == 2:
        lines = stderr.splitlines()
        if len(lines) != 1 or not ERROR_LINE.match(lines[0]):
            return f"exit 2 without exactly one error line: {stderr[:200]!r}"
        if stdout.strip():
            return "exit 2 with output on stdout"
        return ""
    return f"exit code {code}: {stderr.strip()[:200]!r}"


PROTECTED = ("existing.txt", "full")  # never a previous run of any command: must never change


def touched(before: dict[str, str], after: dict[str, str], failed: bool) -> list[str]:
    """Protected sentinels changed, removed or added to; on a failed case, anything changed or created.

    A successful run may create new outputs and rewrite a previous run of the same command (``prevsim``
    holds what ``goalit simulate --out`` writes).
    """
    keys = set(before) | set(after)
    changed = [p for p in keys if before.get(p) != after.get(p) and not p.startswith("inputs")]
    if failed:
        return sorted(changed)
    return sorted(p for p in changed if p.split(os.sep)[0] in PROTECTED)


def run_api(surface: str, label: str, fn: Callable[[], Any], timeout_s: float = 60.0) -> Outcome:
    """``fn()`` returns, or raises a one-line ``GoalitInputError``; anything else is a traceback."""
    import warnings

    from goalit.errors import GoalitInputError

    out = Outcome(surface, label)
    stderr = io.StringIO()
    t0 = time.perf_counter()
    try:
        with _alarm(timeout_s), contextlib.redirect_stderr(stderr), warnings.catch_warnings(record=True) as w:
            warnings.simplefilter("always")
            try:
                fn()
                out.code = 0
                if w:
                    out.wrong_exit = f"warning: {w[0].category.__name__}: {w[0].message}"[:200]
            except GoalitInputError as err:
                out.code = 2
                if "\n" in str(err) or not str(err):
                    out.wrong_exit = f"error not one line: {str(err)[:200]!r}"
    except Hang:
        out.hang = True
    except BaseException:  # noqa: BLE001
        out.traceback = traceback.format_exc()
    out.seconds = time.perf_counter() - t0
    return out


# ----------------------------------------------------------------------------------------------------
# value pools

HUGE_INTS = [10**9, 10**12, 2**53 + 1, 2**63 - 1, 10**30, 10**400]
BAD_NUMBERS = ["nan", "inf", "-inf", "-1", "0", "1e309", "-0", "1e-320", "0x10", "1_000", "", " ", "abc",
               "1" * 5000, "\u0661", "١٢", "--", "None"]  # fmt: skip
TOML_VALUES: list[Any] = [
    None, "x", "", -1, 0, 1, 0.5, -0.5, 1e30, 1e308, 5e-324, 2**63 - 1, -(2**63), 10**9, 10**12, 2**53,
    math.nan, math.inf, -math.inf, True, [], [1], [1, 2, 3], ["a", "b"], {}, {"a": 1}, {"uniform": [1]},
    {"uniform": [1, 10**12]}, {"loguniform": [1e-300, 1e300]}, {"choice": []}, {"choice": [10**15]},
    [{"x": 1}], "\u00e9\u00e8" * 100, "x" * 10000, [0.0, 1e308], [1e308, 1e308],
]  # fmt: skip


def base_scenario() -> dict[str, Any]:
    """A small document that uses every section (explicit and generated servers and users)."""
    return {
        "name": "fuzz",
        "local_level": "q4_k_m",
        "radio": {"carrier_ghz": 3.5, "noise_figure_db": 9.0, "access_overhead_s": 0.01},
        "game": {"epsilon": 1e-5, "capacity_penalty_s": 1000.0, "max_slots": 100, "kv_context_tokens": 2048},
        "hardware": {
            "my-gpu": {
                "memory_bytes": 48e9, "mem_bw_bytes_per_s": 864e9, "flops_fp16": 181e12, "eta_c": 0.6,
                "step_overhead_s": 0.001, "power_w": 300.0, "eta_m": {"default": 0.8, "q4_k_m": 0.7},
            }
        },
        "servers": [
            {
                "name": "a", "position_m": [0.0, 0.0], "hardware": "my-gpu",
                "ap": {"bandwidth_hz": 4e6, "subchannel_hz": 1e6, "tx_power_w": 1.0, "coverage_m": 500.0},
                "instances": [{"level": "q4_k_m", "share": 0.5}, {"level": "fp16", "share": 0.5}],
            }
        ],
        "servers_generate": {
            "count": 2, "area_m": [200.0, 100.0],
            "templates": [{"hardware": "rtx-4090", "instances": [{"level": "q2_k", "share": 1.0}]}],
        },
        "users": [
            {"position_m": [10.0, 5.0], "prompt_tokens": 100, "output_tokens": 50, "deadline_s": 5.0,
             "w_quality": 0.1, "w_energy": 0.1, "max_perplexity": 8.0},
        ],
        "users_generate": {
            "count": 6, "seed": 1, "prompt_tokens": {"uniform": [10, 20]}, "w_energy": {"choice": [0.0, 0.1]},
            "deadline_s": {"loguniform": [1.0, 10.0]},
        },
    }  # fmt: skip


def _paths(node: Any, prefix: tuple = ()) -> Iterator[tuple]:
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield prefix + (k,)
        yield from _paths(v, prefix + (k,))


def mutate_doc(rng: random.Random, doc: dict[str, Any], edits: int) -> dict[str, Any]:
    d = copy.deepcopy(doc)
    for _ in range(edits):
        paths = list(_paths(d))
        if not paths:
            break
        path = rng.choice(paths)
        node = d
        for k in path[:-1]:
            node = node[k]
        value = copy.deepcopy(rng.choice(TOML_VALUES))
        roll = rng.random()
        if roll < 0.1 and isinstance(node, dict):
            node["unexpected_" + str(path[-1])] = 1
        elif value is None or roll < 0.2:
            del node[path[-1]]
        else:
            node[path[-1]] = value
    return d


def _toml_text(doc: dict[str, Any]) -> str:
    try:
        return tomli_w.dumps(doc)
    except (TypeError, ValueError):  # e.g. a list mixing tables and values: write it as a string
        return tomli_w.dumps({k: (v if _tomlable(v) else repr(v)) for k, v in doc.items()})


def _tomlable(v: Any) -> bool:
    try:
        tomli_w.dumps({"k": v})
        return True
    except (TypeError, ValueError):
        return False


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    """A text-level mutation: truncation, deleted / duplicated lines, flipped bytes, encodings, compression."""
    kind = rng.randrange(12)
    lines = data.split(b"\n")
    if kind == 0:
        return data[: rng.randrange(len(data) + 1)]
    if kind == 1 and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
        return b"\n".join(lines)
    if kind == 2:
        k = rng.randrange(len(lines))
        lines.insert(k, lines[k])
        return b"\n".join(lines)
    if kind == 3:
        b = bytearray(data)
        for _ in range(rng.randint(1, 5)):
            if b:
                b[rng.randrange(len(b))] = rng.randrange(256)
        return bytes(b)
    if kind == 4:
        return b"\xef\xbb\xbf" + data
    if kind == 5:
        return data.decode("utf-8", "replace").encode("utf-16")
    if kind == 6:
        return gzip.compress(data)
    if kind == 7:
        return bz2.compress(data)
    if kind == 8:
        return data.replace(b"\n", b"\r\n")
    if kind == 9:
        return b""
    if kind == 10:
        k = rng.randrange(len(data) + 1)
        return data[:k] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 20))) + data[k:]
    return data.replace(b"\n", b"\x00\n", 1)


# ----------------------------------------------------------------------------------------------------
# surfaces: scenario files


def scenario_cases(rng: random.Random, n: int, folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Mutated scenario files; each is validated, and a valid one is also solved and simulated."""
    base = base_scenario()
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        if rng.random() < 0.75:
            text = _toml_text(mutate_doc(rng, base, rng.randint(1, 3))).encode("utf-8")
        else:
            text = mutate_bytes(rng, _toml_text(base).encode("utf-8"))
        path = folder / f"s{k}.toml"
        path.write_bytes(text)
        rel = os.path.relpath(path, folder.parent)
        yield f"scenario#{k}", ["scenario", "validate", rel]
        roll = rng.random()
        if roll < 0.4:
            algo = rng.choice(["goalit", "ot-gah", "optimum", "local", "nearest-fp16", "random", "greedy"])
            yield f"scenario#{k} solve", ["solve", rel, "--algorithm", algo, "--time-limit", "5", "--json"]
        elif roll < 0.7:
            yield f"scenario#{k} simulate", ["simulate", rel, "--rate", "2", "--duration", "5", "--json",
                                            "--no-progress", "--policy", rng.choice(["goalit", "ot-gah", "local"])]  # fmt: skip


# ----------------------------------------------------------------------------------------------------
# surfaces: traces


def _azure_base(rng: random.Random, rows: int) -> list[list[str]]:
    src = TRACES / "AzureLLMInferenceTrace_conv.csv"
    if src.exists():
        with src.open(encoding="utf-8") as f:
            lines = [next(f) for _ in range(rows + 1)]
        return [line.rstrip("\n").split(",") for line in lines]
    out = [["TIMESTAMP", "ContextTokens", "GeneratedTokens"]]
    for k in range(rows):
        out.append([f"2023-11-16 18:{15 + k // 60:02d}:{k % 60:02d}.1234567", str(100 + k), str(10 + k % 50)])
    return out


def _mooncake_base(rows: int) -> list[dict[str, Any]]:
    src = TRACES / "mooncake_conversation_trace.jsonl"
    if src.exists():
        with src.open(encoding="utf-8") as f:
            return [json.loads(next(f)) for _ in range(rows)]
    return [{"timestamp": 1000 * k, "input_length": 100 + k, "output_length": 20} for k in range(rows)]


CSV_CELLS = ["", " ", "nan", "-5", "1.5", "1e3", "99999999999999999999", str(10**400)[:500], "0", "abc",
             "2023-13-45 99:99:99.0", "2023-11-16", "2023-11-16T18:15:46", "\u00e9", '"', "1,2", "\x00"]  # fmt: skip
JSON_VALUES: list[Any] = [None, "", "12", -5, 1.5, 1e308, -1e308, 10**30, True, [], {}, "nan", 0, 2**63]


def trace_cases(rng: random.Random, n: int, folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Mutated Azure CSV and Mooncake JSONL traces replayed by ``goalit simulate``."""
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        rows = rng.choice([1, 2, 5, 40, 200])
        azure = rng.random() < 0.5
        if azure:
            table = _azure_base(rng, rows)
            kind = rng.randrange(8)
            if kind == 0:  # header: renamed, dropped, reordered, duplicated columns
                h = table[0]
                op = rng.randrange(4)
                if op == 0:
                    h[rng.randrange(3)] = rng.choice(["timestamp", "Context", "", "TIMESTAMP "])
                elif op == 1:
                    c = rng.randrange(3)
                    table = [r[:c] + r[c + 1 :] for r in table]
                elif op == 2:
                    perm = rng.sample(range(3), 3)
                    table = [[r[i] for i in perm] for r in table]
                else:
                    table = [r + [r[0]] for r in table]
            elif kind <= 2:  # cell types
                for _ in range(rng.randint(1, 3)):
                    r = rng.randrange(1, len(table))
                    table[r][rng.randrange(3)] = rng.choice(CSV_CELLS)
            elif kind == 3:  # order
                body = table[1:]
                rng.shuffle(body)
                table = [table[0], *body]
            elif kind == 4:  # same timestamps
                table = [table[0]] + [[table[1][0], *r[1:]] for r in table[1:]]
            elif kind == 5:  # short / long rows
                r = rng.randrange(1, len(table))
                table[r] = table[r][: rng.randrange(3)] if rng.random() < 0.5 else table[r] + ["x", "y"]
            data = "\n".join(",".join(r) for r in table).encode("utf-8") + b"\n"
            suffix = rng.choice([".csv", ".csv", ".txt", ""])
        else:
            objs = _mooncake_base(rows)
            kind = rng.randrange(7)
            if kind <= 2:
                for _ in range(rng.randint(1, 3)):
                    o = rng.choice(objs)
                    key = rng.choice(["timestamp", "input_length", "output_length"])
                    if rng.random() < 0.2:
                        o.pop(key, None)
                    else:
                        o[key] = rng.choice(JSON_VALUES)
            elif kind == 3:
                rng.shuffle(objs)
            lines = [json.dumps(o) for o in objs]
            if kind == 4:
                lines.insert(rng.randrange(len(lines) + 1), rng.choice(["[1,2]", "{", "null", '"x"', "{}",
                                                                        "[" * 5000, '{"timestamp": ' + "9" * 5000 + "}"]))  # fmt: skip
            data = ("\n".join(lines) + "\n").encode("utf-8")
            suffix = rng.choice([".jsonl", ".jsonl", ".json", ""])
        if rng.random() < 0.3:
            data = mutate_bytes(rng, data)
        path = folder / f"t{k}{suffix}"
        path.write_bytes(data)
        rel = os.path.relpath(path, folder.parent)
        argv = ["simulate", "small", "--trace", rel, "--duration", "30", "--no-progress", "--json",
                "--max-prompt-tokens", "4096", "--max-output-tokens", "256"]  # fmt: skip
        if rng.random() < 0.2:
            argv += ["--trace-format", rng.choice(["azure", "mooncake"])]
        if rng.random() < 0.3:
            argv += ["--rate", rng.choice(["0.5", "5", "1e-9", "1e9"])]
        if rng.random() < 0.2:
            argv += ["--time-scale", rng.choice(["1e-300", "1e300", "2"])]
        if rng.random() < 0.2:
            argv += ["--length-scale", rng.choice(["1e-300", "1e300", "0.5"])]
        yield f"trace#{k} {'azure' if azure else 'mooncake'}", argv


# ----------------------------------------------------------------------------------------------------
# surfaces: flags of every command

OUT_TARGETS = ["existing.txt", "full", "prevsim", "new-out", "existing.txt/sub", "/proc/goalit-out", ""]
FLAG_VALUES: dict[str, list[str]] = {
    "int": ["1", "2", "0", "-1", "3.5", "abc", "1e3", *[str(v) for v in HUGE_INTS[:3]], "9" * 30, "1" * 5000, ""],
    "float": ["0.5", "2", "0", "-1", "1e-300", "1e300", "nan", "inf", "-inf", "abc", "1e309", "", "1" * 5000],
    "seed": ["0", "7", "-1", str(2**63 - 1), str(2**63), str(2**64), "1" * 5000, "x"],
    "scenario": ["small", "default", "nosuch", "inputs", "existing.txt", "/dev/null", "a.toml"],
}  # fmt: skip

COMMAND_FLAGS: dict[str, dict[str, str | list[str]]] = {
    "solve": {"--algorithm": ["goalit", "ot-gah", "optimum", "local", "random", "greedy", "nope"],
              "--seed": "seed", "--time-limit": "float", "--json": "switch"},
    "compare": {"--seed": "seed", "--time-limit": "float", "--json": "switch"},
    "simulate": {"--policy": ["goalit", "ot-gah", "local", "least-loaded", "nope"], "--rate": "float",
                 "--duration": "float", "--horizon": "float", "--time-scale": "float", "--length-scale": "float",
                 "--max-prompt-tokens": "int", "--max-output-tokens": "int", "--epoch": "float",
                 "--max-batch": "int", "--seed": "seed", "--json": "switch", "--out": "out",
                 "--trace-format": ["azure", "mooncake", "csv"], "--trace": "path"},
    "reproduce": {"--quick": "switch", "--mode": ["tiny", "full", "huge"], "--jobs": "int", "--seeds": "int",
                  "--only": ["E1", "E99", ",", "load,E4", ""], "--backend": ["local", "dask", "x"],
                  "--scheduler": ["tcp://127.0.0.1:1", "nonsense"], "--out": "out", "--no-progress": "switch",
                  "--policies": ["goalit,ot-gah", "nope", ",", ""]},
    "calibrate": {"--levels": ["q8_0", "q9", "", ","], "--chunks": "int", "--repeats": "int", "--text": "path",
                  "--cache": "path", "--fit-batches": ["1", "3", "x"], "--llm-name": ["m", "bad/name"],
                  "--json": "switch", "--no-progress": "switch",
                  "--batches": ["1,2", "0", "1,x", "300", ""], "--prompt-tokens": "int", "--decode-steps": "int",
                  "--threads": "int", "--ppl-threads": "int", "--quiet": "float", "--quiet-timeout": "float",
                  "--hardware-name": ["ok", "bad name", ""], "--power-w": "float", "--out": "out", "--slots": "int"},
    "testbed": {"--servers": "int", "--levels": ["q8_0", "zz"], "--requests": "int", "--offset": "int",
                "--rate": "float", "--length-scale": "float", "--max-prompt-tokens": "int",
                "--max-output-tokens": "int", "--w-quality": "float", "--threads": "int", "--n-ctx": "int",
                "--timeout": "float", "--seed": "seed", "--out": "out", "--quiet": "float", "--trace-time": "switch",
                "--swap-s": "float", "--trace": "path", "--text": "path", "--profile": "path", "--llm": ["x", ""],
                "--hardware": ["x"], "--work-dir": "path", "--json": "switch", "--no-progress": "switch",
                "--policy": ["goalit", "nope"], "--quiet-timeout": "float",
                "--engine": ["llama-server", "llama-cpp-python", "vllm"], "--slots": "int"},
    "serve": {"--host": ["127.0.0.1", "example.com", "::1", ""], "--port": "int", "--policy": ["goalit", "x"],
              "--seed": "seed", "--log-level": ["info", "loud"]},
    "algorithms": {"--json": "switch"},
}  # fmt: skip

# valid values that keep a run short (the fuzzer asks for bounded work; huge values must be refused)
SHORT = {"--rate": ["0.5", "2"], "--duration": ["5", "10"], "--time-limit": ["5"], "--horizon": ["30", "1e9"],
         "--jobs": ["1", "2"], "--seeds": ["1"], "--max-batch": ["1", "4"], "--epoch": ["0.5"]}  # fmt: skip
# commands that never do real work under the fuzzer: every case carries at least one bad value
MUST_FAIL = ("calibrate", "testbed", "serve", "reproduce")


def _value(rng: random.Random, flag: str, kind: str | list[str], valid: bool) -> str:
    if isinstance(kind, list):
        return rng.choice(kind)
    if kind == "out":
        return rng.choice(OUT_TARGETS)
    if kind == "path":
        return rng.choice(["existing.txt", "full", "missing.file", "/dev/null", "", "inputs"])
    if valid and flag in SHORT:
        return rng.choice(SHORT[flag])
    return rng.choice(FLAG_VALUES[kind])


def flag_cases(rng: random.Random, n: int, folder: Path) -> Iterator[tuple[str, list[str]]]:
    """Random flag sets (good and bad values, existing --out paths) for every command."""
    folder.mkdir(parents=True, exist_ok=True)
    bad_cfg = folder / "bad-gateway.toml"
    bad_cfg.write_text('llm = "nope"\n')
    # GOALIT_FUZZ_SKIP=reproduce,...: leave commands out (e.g. fuzzing a checkout without the --jobs bound)
    skip = set(os.environ.get("GOALIT_FUZZ_SKIP", "").split(","))
    commands = [c for c in [*COMMAND_FLAGS, "scenario"] if c not in skip]
    for k in range(n):
        cmd = rng.choice(commands)
        if cmd == "scenario":
            action = rng.choice(["show", "validate", "list", "nope"])
            argv = ["scenario", action]
            if action in ("show", "validate"):
                argv.append(rng.choice(FLAG_VALUES["scenario"]))
            if action == "show" and rng.random() < 0.5:
                argv.append("--toml")
            yield f"flags#{k}", argv
            continue
        flags = COMMAND_FLAGS[cmd]
        argv = [cmd]
        if cmd in ("solve", "compare", "simulate"):
            argv.append(rng.choice(["small", "small", "default", *FLAG_VALUES["scenario"]]))
        chosen = rng.sample(list(flags), rng.randint(1, min(4, len(flags))))
        for flag in chosen:
            kind = flags[flag]
            if kind == "switch":
                argv.append(flag)
                continue
            argv += [flag, _value(rng, flag, kind, valid=rng.random() < 0.6)]
        if cmd == "serve":
            argv += ["--config", rng.choice([str(bad_cfg), "missing.toml", "existing.txt"])]
        elif cmd in MUST_FAIL:
            # a certainly-bad value last, so the command stops before any work
            bad = {"calibrate": ["--chunks", "0"], "testbed": ["--servers", "0"],
                   "reproduce": ["--jobs", "-1"]}[cmd]  # fmt: skip
            if rng.random() < 0.5:
                bad = {"calibrate": ["--out", "existing.txt"], "testbed": ["--out", "full"],
                       "reproduce": ["--out", "full"]}[cmd]  # fmt: skip
            argv += bad
        if cmd == "simulate" and "--out" not in argv and rng.random() < 0.5:
            argv += ["--out", rng.choice(OUT_TARGETS)]
        if cmd == "simulate":
            argv += ["--no-progress"]
            if "--rate" not in argv:
                argv += ["--rate", "2"]
            if "--duration" not in argv:
                argv += ["--duration", "10"]
        yield f"flags#{k} {cmd}", argv


# ----------------------------------------------------------------------------------------------------
# surfaces: the Python API

API_VALUES: list[Any] = [None, 0, 1, -1, 0.5, 2.0, 1e-300, 1e300, math.nan, math.inf, -math.inf, "x", "",
                         True, [], {}, 10**30, 2**63, -(2**63), 3]  # fmt: skip
SIM_OPTIONS = ("rate", "duration_s", "horizon_s", "time_scale", "length_scale", "max_prompt_tokens",
               "max_output_tokens", "max_batch", "epoch_s", "context_tokens", "kv_context_tokens",
               "trace_format", "grant", "epsilon", "max_slots", "reroute_queued", "bogus")  # fmt: skip
SOLVE_OPTIONS = ("time_limit_s", "epsilon", "max_slots", "grant", "bogus")


def api_cases(rng: random.Random, n: int, folder: Path) -> Iterator[tuple[str, Callable[[], Any]]]:
    """Calls of goalit.solve / simulate / load_scenario / default_scenario / resolve_scenario."""
    import goalit

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "x.toml").write_text('name = "x"\n')
    small = goalit.default_scenario("small")
    good_sim = {"rate": [0.5, 2.0], "duration_s": [5.0, 10.0], "horizon_s": [20.0, 1e9], "time_scale": [2.0],
                "length_scale": [0.5, 2.0], "max_prompt_tokens": [64, 10**6], "max_output_tokens": [16],
                "max_batch": [1, 8], "epoch_s": [0.5, 2.0], "context_tokens": [512.0], "kv_context_tokens": [1024],
                "grant": ["parallel", "random"], "epsilon": [1e-4], "max_slots": [10, 1000],
                "reroute_queued": [True, False], "trace_format": ["azure"], "bogus": [1]}  # fmt: skip
    for k in range(n):
        roll = rng.random()
        valid = rng.random() < 0.6

        def pick(name: str, pool: dict = good_sim, valid: bool = valid) -> Any:
            return rng.choice(pool[name]) if valid and name in pool else rng.choice(API_VALUES)

        if roll < 0.45:
            opts = {o: pick(o) for o in rng.sample(SIM_OPTIONS, rng.randint(1, 3))}
            opts.setdefault("rate", rng.choice([0.5, 2.0]))
            opts.setdefault("duration_s", rng.choice([5.0, 10.0]))
            policy = rng.choice(
                ["goalit", "ot-gah", "local", "least-loaded", "nope", 3, None][: 4 if valid else 7]
            )
            seed = rng.choice([0, 1, -1, 2**63, 2**70, "x", 0.5, None][: 2 if valid else 8])
            scen = rng.choice([small, "small", "nosuch", 5, None][: 2 if valid else 5])
            label = f"api#{k} simulate({scen if not hasattr(scen, 'name') else 'small'!r}, {policy!r}, seed={seed!r}, {opts!r})"
            yield (
                label[:300],
                (lambda s=scen, p=policy, sd=seed, o=opts: goalit.simulate(s, policy=p, seed=sd, **o)),
            )
        elif roll < 0.8:
            good = {"time_limit_s": [5.0], "epsilon": [1e-3], "max_slots": [50], "grant": ["max-gain"]}
            opts = {o: pick(o, good) for o in rng.sample(SOLVE_OPTIONS, rng.randint(0, 2))}
            algo = rng.choice(
                ["goalit", "ot-gah", "optimum", "local", "random", "greedy", "nope", None, 3][
                    : 6 if valid else 9
                ]
            )
            if algo == "optimum":
                opts.setdefault("time_limit_s", 5.0)
            seed = rng.choice([0, 1, -1, 2**63, 2**70, "x", 0.5][: 2 if valid else 7])
            yield (
                f"api#{k} solve(small, {algo!r}, seed={seed!r}, {opts!r})"[:300],
                (lambda a=algo, sd=seed, o=opts: goalit.solve(small, algorithm=a, seed=sd, **o)),
            )
        else:
            arg = rng.choice(["small", "nosuch", "", str(folder / "x.toml"), str(folder), "/dev/null", 5, None,
                              str(folder / "missing.toml")])  # fmt: skip
            fn = rng.choice(["load_scenario", "default_scenario", "resolve_scenario"])
            yield f"api#{k} {fn}({arg!r})", (lambda f=fn, a=arg: getattr(goalit, f)(a))


# ----------------------------------------------------------------------------------------------------
# running a surface


@dataclass
class Figures:
    surface: str
    cases: int = 0
    tracebacks: int = 0
    hangs: int = 0
    wrong_exits: int = 0
    touched: int = 0
    exit_0: int = 0
    exit_2: int = 0
    seconds: float = 0.0
    failures: list[Outcome] = field(default_factory=list)

    def add(self, o: Outcome) -> None:
        self.cases += 1
        self.tracebacks += bool(o.traceback)
        self.hangs += o.hang
        self.wrong_exits += bool(o.wrong_exit)
        self.touched += bool(o.touched)
        self.exit_0 += o.code == 0
        self.exit_2 += o.code == 2
        self.seconds += o.seconds
        if not o.ok:
            self.failures.append(o)


def run_surface(surface: str, seed: int, n: int, workdir: Path, timeout_s: float = 60.0,
                budget_s: float | None = None, log: Callable[[Outcome], None] | None = None) -> Figures:  # fmt: skip
    """Run ``n`` cases of ``surface`` (scenario, trace, flags, api) from ``seed``; stop after ``budget_s``."""
    rng = random.Random(f"{surface}:{seed}")
    sandbox = make_sandbox(workdir / f"{surface}-{seed}")
    figures = Figures(surface)
    t0 = time.perf_counter()
    if surface == "api":
        cases: Iterator = api_cases(rng, n, sandbox / "inputs")
    else:
        gen = {"scenario": scenario_cases, "trace": trace_cases, "flags": flag_cases}[surface]
        cases = gen(rng, n, sandbox / "inputs")
    for label, case in cases:
        if surface == "api":
            o = run_api(surface, label, case, timeout_s)
        else:
            o = run_cli(surface, case, sandbox, timeout_s, label + ": " + " ".join(case)[:200])
        figures.add(o)
        if log is not None:
            log(o)
        if budget_s is not None and time.perf_counter() - t0 > budget_s:
            break
    return figures


if __name__ == "__main__":  # pragma: no cover - quick manual run: python tests/goalit_fuzz.py SURFACE N
    import tempfile

    surf, count = sys.argv[1], int(sys.argv[2])
    with tempfile.TemporaryDirectory() as tmp:
        f = run_surface(surf, 0, count, Path(tmp), log=lambda o: None if o.ok else print(o.describe()))
        print(f.surface, f.cases, "tracebacks", f.tracebacks, "hangs", f.hangs, "wrong", f.wrong_exits,
              "touched", f.touched, "exit0", f.exit_0, "exit2", f.exit_2, f"{f.seconds:.1f}s")  # fmt: skip
