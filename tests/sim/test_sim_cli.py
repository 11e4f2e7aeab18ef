"""``goalit simulate``: JSON output, records under --out, human summary, one-line errors."""

from __future__ import annotations

import csv
import json

import pytest

from goalit.cli import main
from goalit.sim.records import COLUMNS


def test_json_prints_one_object_with_the_documented_keys(capsys):
    code = main("simulate small --policy goalit --rate 0.5 --duration 20 --seed 1 --json".split())
    out = capsys.readouterr().out
    assert code == 0
    obj = json.loads(out)
    for key in ("token_throughput_tps", "mean_latency_s", "p95_latency_s", "mean_perplexity", "completed",
                "unfinished"):  # fmt: skip
        assert key in obj
    assert obj["policy"] == "goalit" and obj["seed"] == 1 and obj["scenario"] == "small"


def test_out_writes_records_and_summary_atomically(tmp_path, capsys):
    out = tmp_path / "run"
    argv = "simulate small --policy ot-gah --epoch 0.5 --rate 1 --duration 15 --no-progress --out".split()
    code = main([*argv, str(out)])
    captured = capsys.readouterr()
    assert code == 0 and captured.err == ""
    assert "token throughput" in captured.out and "roofline" in captured.out
    names = sorted(p.name for p in out.iterdir())
    assert names == ["records.csv", "records.parquet", "summary.json"]  # no temporary files left
    with (out / "records.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(COLUMNS)
    summary = json.loads((out / "summary.json").read_text())
    assert len(rows) == summary["arrived"] > 0
    assert (
        summary["policy_options"]["epoch_s"] == 0.5 and summary["policy_options"]["static_batching"] is True
    )


def test_trace_replay_states_the_transforms(capsys):
    from pathlib import Path

    trace = (
        Path(__file__).resolve().parents[2]
        / ".."
        / "shared"
        / "data"
        / "traces"
        / "AzureLLMInferenceTrace_code.csv"
    )
    if not trace.is_file():
        pytest.skip("../shared/data/traces not present")
    code = main(
        [
            "simulate",
            "default",
            "--trace",
            str(trace),
            *"--duration 30 --max-prompt-tokens 4096 --json".split(),
        ]
    )
    obj = json.loads(capsys.readouterr().out)
    assert code == 0
    text = " | ".join(obj["workload"]["transforms"])
    assert "cut to arrivals before 30 s" in text and "prompt_tokens clipped to <= 4096" in text
    assert obj["workload"]["source"].startswith("azure:")


@pytest.mark.parametrize(("argv", "needle"), [
    (["--rate", "-1"], "--rate"),
    (["--policy", "nope"], "--policy"),
    (["--trace", "/nonexistent/trace.csv"], "no such trace file"),
])  # fmt: skip
def test_bad_arguments_exit_2_with_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        code = main(["simulate", "small", *argv])
        raise SystemExit(code)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and needle in err[0]
