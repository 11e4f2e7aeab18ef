"""Workloads: Poisson arrivals, trace parsing (real files and every bad-trace class), stated transforms."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from goalit.cli import main
from goalit.errors import TraceError
from goalit.sim.workload import load_trace, poisson

TRACES = Path(__file__).resolve().parents[2] / ".." / "shared" / "data" / "traces"
AZURE_CONV = TRACES / "AzureLLMInferenceTrace_conv.csv"
AZURE_CODE = TRACES / "AzureLLMInferenceTrace_code.csv"
MOONCAKE = TRACES / "mooncake_conversation_trace.jsonl"
needs_traces = pytest.mark.skipif(not AZURE_CONV.is_file(), reason="../shared/data/traces not present")


def test_poisson_arrivals_are_sorted_in_window_and_reproducible():
    w = poisson(5.0, 200.0, np.random.default_rng(1))
    assert np.all(np.diff(w.arrival_s) >= 0) and w.arrival_s[0] >= 0 and w.arrival_s[-1] < 200.0
    assert abs(len(w) - 1000) < 5 * np.sqrt(1000)
    assert np.array_equal(w.arrival_s, poisson(5.0, 200.0, np.random.default_rng(1)).arrival_s)
    gaps = np.diff(w.arrival_s)
    assert gaps.std() / gaps.mean() == pytest.approx(1.0, abs=0.15)  # exponential: CV 1


@needs_traces
@pytest.mark.parametrize(
    ("path", "rows", "span_s", "mean_in", "mean_out"),
    [
        (AZURE_CONV, 19_366, 3501.5, 1155, 211),
        (AZURE_CODE, 8_819, 3435.5, 2048, 28),
        (MOONCAKE, 12_031, 3537.0, 12_035, 343),
    ],
)
def test_real_traces_parse(path, rows, span_s, mean_in, mean_out):
    w = load_trace(path)
    assert len(w) == rows
    assert w.arrival_s[0] == 0.0 and np.all(np.diff(w.arrival_s) >= 0)
    assert w.span_s == pytest.approx(span_s, abs=1.0)
    assert w.prompt_tokens.mean() == pytest.approx(mean_in, rel=0.01)
    assert w.output_tokens.mean() == pytest.approx(mean_out, rel=0.01)
    assert w.transforms and w.transforms[0].startswith("time shifted to start at 0 s")


@needs_traces
def test_transforms_are_applied_and_stated():
    w = load_trace(AZURE_CONV)
    t = w.transformed(
        rate=11.06, duration_s=600.0, max_prompt_tokens=2048, max_output_tokens=256, length_scale=0.5
    )
    assert t.arrival_s[-1] < 600.0
    assert t.mean_rate_per_s == pytest.approx(11.06, rel=0.1)
    assert t.prompt_tokens.max() <= 2048 and t.output_tokens.max() <= 256 and t.output_tokens.min() >= 1
    text = " | ".join(t.transforms)
    for word in ("time scaled", "cut to arrivals before 600", "scaled by 0.5", "prompt_tokens clipped",
                 "output_tokens clipped"):  # fmt: skip
        assert word in text
    assert len(w.transformed(time_scale=2.0)) == len(w)
    assert w.transformed(time_scale=2.0).span_s == pytest.approx(2 * w.span_s)


def mc(*rows) -> str:
    """Mooncake JSONL lines from (timestamp, input_length, output_length); None leaves the field out."""
    keys = ("timestamp", "input_length", "output_length")
    return "".join(
        json.dumps({k: v for k, v in zip(keys, r, strict=True) if v is not None}) + "\n" for r in rows
    )


AZ_HEAD = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
GOOD = ["2023-11-16 18:15:46.6805900,374,44", "2023-11-16 18:15:50.9951690,396,109"]

BAD = {
    "azure-missing-column": ("t.csv", "TIMESTAMP,ContextTokens\n2023-11-16 18:15:46.6805900,374\n", 1,
                             "GeneratedTokens", "missing column"),
    "azure-unparsable-timestamp": ("t.csv", AZ_HEAD + GOOD[0] + "\nyesterday noon,12,3\n", 3, "TIMESTAMP",
                                   "unparsable timestamp"),
    "azure-decreasing-timestamp": ("t.csv", AZ_HEAD + GOOD[1] + "\n" + GOOD[0] + "\n", 3, "TIMESTAMP",
                                   "timestamp decreases"),
    "azure-negative-length": ("t.csv", AZ_HEAD + GOOD[0] + "\n2023-11-16 18:15:50.9951690,-5,109\n", 3,
                              "ContextTokens", "negative length"),
    "azure-non-integer-length": ("t.csv", AZ_HEAD + GOOD[0] + "\n2023-11-16 18:15:50.9951690,396,1.5\n", 3,
                                 "GeneratedTokens", "not an integer token count"),
    "azure-empty-file": ("t.csv", "", 1, "TIMESTAMP", "empty file"),
    "azure-header-only": ("t.csv", AZ_HEAD, 2, "TIMESTAMP", "empty trace"),
    "mooncake-missing-column": ("t.jsonl", mc((0, 5, 3), (10, 5, None)), 2, "output_length", "missing field"),
    "mooncake-unparsable-timestamp": ("t.jsonl", mc(("soon", 5, 3)), 1, "timestamp", "unparsable timestamp"),
    "mooncake-decreasing-timestamp": ("t.jsonl", mc((50, 5, 3)) + "\n" + mc((10, 5, 3)), 3, "timestamp",
                                      "timestamp decreases"),
    "mooncake-negative-length": ("t.jsonl", mc((0, 5, -3)), 1, "output_length", "negative length"),
    "mooncake-empty-file": ("t.jsonl", "\n", 1, "timestamp", "empty trace"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_trace_is_one_line_naming_file_line_and_column(tmp_path, case):
    name, text, line, column, problem = BAD[case]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TraceError) as err:
        load_trace(path)
    msg = str(err.value)
    assert "\n" not in msg
    assert str(path) in msg and f"line {line}," in msg and f"column {column!r}" in msg and problem in msg


CLI_CASES = [
    "azure-missing-column",
    "azure-decreasing-timestamp",
    "mooncake-negative-length",
    "azure-empty-file",
]


@pytest.mark.parametrize("case", CLI_CASES)
def test_bad_trace_cli_exits_2_with_one_line(tmp_path, capsys, case):
    name, text, line, column, problem = BAD[case]
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    out_dir = tmp_path / "out"
    code = main(["simulate", "small", "--trace", str(path), "--json", "--out", str(out_dir), "--no-progress"])
    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("goalit: error: ") and problem in lines[0]
    assert not out_dir.exists()  # nothing half-written


def test_missing_trace_file_is_an_input_error(tmp_path):
    with pytest.raises(TraceError, match="no such trace file"):
        load_trace(tmp_path / "nope.csv")


def test_zero_output_tokens_are_raised_to_one_and_stated(tmp_path):
    path = tmp_path / "z.jsonl"
    path.write_text("\n".join(json.dumps({"timestamp": t, "input_length": 10, "output_length": o})
                              for t, o in [(0, 0), (5, 4)]), encoding="utf-8")  # fmt: skip
    w = load_trace(path)
    assert w.output_tokens.tolist() == [1, 4]
    assert any("raised from 0 to 1 (1 requests)" in x for x in w.transforms)
    assert w.arrival_s.tolist() == [0.0, 0.005]
