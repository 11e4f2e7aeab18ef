"""``goalit calibrate``: end to end on the real model (slow), bad flags and a missing extra (fast)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from goalit.cli import main
from goalit.scenario.profiles import load_profile_file

SRC = str(Path(__file__).resolve().parents[2] / "src")
QUICK = [
    "--chunks",
    "1",
    "--repeats",
    "1",
    "--batches",
    "1,2",
    "--decode-steps",
    "4",
    "--prompt-tokens",
    "32",
    "--threads",
    "1",
    "--quiet",
    "1",
    "--no-progress",
]


@pytest.mark.slow
def test_calibrate_two_levels_writes_a_valid_profile(ladder_dir, wikitext, tmp_path, capsys):
    out = tmp_path / "cal.toml"
    code = main(
        [
            "calibrate",
            "--levels",
            "q2_k,q8_0",
            *QUICK,
            "--text",
            str(wikitext),
            "--cache",
            str(ladder_dir),
            "--out",
            str(out),
            "--json",
        ]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["profile"] == str(out) and [r["level"] for r in report["ladder"]] == ["q8_0", "q2_k"]
    cat = load_profile_file(out)
    levels = cat.llm["smollm2-135m"].levels
    assert list(levels) == ["q8_0", "q2_k"]  # highest precision first
    assert levels["q2_k"].perplexity > levels["q8_0"].perplexity  # quality falls ...
    assert levels["q2_k"].weight_bytes < levels["q8_0"].weight_bytes  # ... with size
    assert levels["q8_0"].weight_bytes == 144_811_072 and levels["q2_k"].weight_bytes == 88_201_792
    hw = cat.hardware["this-machine-cpu"]
    assert 0 < hw.eta_c <= 1 and all(0 < e <= 1 for e in hw.eta_m.values()) and hw.step_overhead_s >= 0
    for r in report["ladder"]:
        assert r["decode_ms_per_token"] > 0 and r["prefill_tokens_per_s"] > 0
        assert set(r["fit_decode_error"]) == {"1", "2"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cal.toml"]


@pytest.mark.slow
def test_ctrl_c_leaves_no_profile(ladder_dir, wikitext, tmp_path):
    out = tmp_path / "cal.toml"  # an existing --out is refused before any work (issue 15): none here
    cmd = [
        sys.executable,
        "-m",
        "goalit",
        "calibrate",
        "--levels",
        "q8_0,q2_k",
        "--chunks",
        "20",
        "--quiet",
        "1",
        "--threads",
        "1",
        "--no-progress",
        "--text",
        str(wikitext),
        "--cache",
        str(ladder_dir),
        "--out",
        str(out),
    ]
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(6.0)  # well inside the measurement (20 chunks of perplexity take minutes)
        assert proc.poll() is None, proc.communicate()
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130 and err.strip().splitlines()[-1] == "goalit: interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == []  # no profile, no temporary file


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--levels", "q9_9"], "unknown quantization level 'q9_9'"),
        (["--levels", ","], "no level given"),
        (["--chunks", "0"], "must be >= 1"),
        (["--batches", "1,x"], "invalid integer 'x'"),
        (["--quiet", "2"], "must be in [0, 1]"),
        (["--hardware-name", "a b"], "profile names use letters"),
        (["--power-w", "-3"], "must be a finite number > 0"),
    ],
)
def test_bad_flags_exit_2_with_one_line(flags, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["calibrate", *flags, "--out", str(tmp_path / "p.toml")])
    assert exc.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("which", ["out", "text"])
def test_bad_paths_exit_2_before_measuring(which, tmp_path, capsys):
    pytest.importorskip("llama_cpp")
    args = {"out": str(tmp_path / "p.toml"), "text": str(tmp_path / "wiki.txt")}
    (tmp_path / "wiki.txt").write_text("text\n", encoding="utf-8")
    args[which] = str(tmp_path / "missing" / "x")
    assert main(["calibrate", "--out", args["out"], "--text", args["text"]]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("goalit: error: ") and "missing" in err
    assert not (tmp_path / "p.toml").exists()


def test_missing_extra_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    from goalit.calibrate import _llama

    _llama.llama_cpp.cache_clear()
    monkeypatch.setitem(sys.modules, "llama_cpp", None)  # what `import llama_cpp` sees without the extra
    try:
        assert main(["calibrate", "--out", str(tmp_path / "p.toml")]) == 2
    finally:
        _llama.llama_cpp.cache_clear()
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert err.startswith("goalit: error: calibration needs llama-cpp-python") and "goalit[llm]" in err
    assert list(tmp_path.iterdir()) == []


def test_step_table_without_a_llama_server_is_one_line_exit_2(tmp_path, capsys, monkeypatch):
    pytest.importorskip("llama_cpp")
    (tmp_path / "wiki.txt").write_text("text\n", encoding="utf-8")
    monkeypatch.setenv("GOALIT_LLAMA_SERVER", str(tmp_path / "no-such-binary"))
    argv = [
        "calibrate",
        "--step-table",
        "--out",
        str(tmp_path / "p.toml"),
        "--text",
        str(tmp_path / "wiki.txt"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("goalit: error: $GOALIT_LLAMA_SERVER: ")
    assert not (tmp_path / "p.toml").exists()
