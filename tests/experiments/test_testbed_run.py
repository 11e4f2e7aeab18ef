"""``goalit testbed`` end to end on a tiny slice, and its clean-up on Ctrl-C (real processes)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from goalit.experiments.testbed.options import TestbedOptions, shared_path
from goalit.serve.procs import pid_running

pytestmark = [pytest.mark.slow, pytest.mark.timeout(400)]
SRC = str(Path(__file__).resolve().parents[2] / "src")
PROFILE = Path(__file__).resolve().parents[1] / "serve" / "data" / "smollm2-cpu.toml"  # the gateway tests'

needs_data = pytest.mark.skipif(
    shared_path("data", "traces", "AzureLLMInferenceTrace_conv.csv") is None
    or shared_path("data", "text", "wikitext-2-raw-test.txt") is None,
    reason="../shared/data (traces, WikiText-2) not present",
)
TINY = ["--profile", str(PROFILE), "--llm", "test-smollm2", "--hardware", "test-cpu", "--levels",
        "q8_0,q4_0", "--max-prompt-tokens", "48", "--max-output-tokens", "8", "--n-ctx", "256", "--threads",
        "1", "--quiet", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def ladder():
    """GGUF files of the two test levels (generated once into the goalit model cache)."""
    pytest.importorskip("llama_cpp")
    from goalit.calibrate.ladder import ensure_ladder

    return ensure_ladder(["q8_0", "q4_0"])


@needs_data
def test_testbed_replays_a_slice_and_compares_with_the_simulator(ladder, tmp_path):
    from goalit.experiments.testbed import run_testbed

    opts = TestbedOptions(servers=2, levels=("q8_0", "q4_0"), requests=6, rate=1.0, max_prompt_tokens=48,
                          max_output_tokens=8, n_ctx=256, threads=1, profile=PROFILE, llm="test-smollm2",
                          hardware="test-cpu", work_dir=tmp_path, quiet=1.0, host_model="shared")  # fmt: skip
    res = run_testbed(opts)  # the shared host: gateway backends on one host, the simulator's shared engine
    assert res.testbed["completed"] == 6 and res.testbed["failed"] == 0
    assert len(res.records) == 6 and sum(res.routing.values()) == 6
    assert all(r["level"] in ("q8_0", "q4_0") and r["perplexity"] > 1 for r in res.records)
    assert res.testbed["tokens_mismatch"] == 0  # min_tokens = max_tokens: exactly the trace's lengths
    t = " ".join(res.workload["transforms"])
    assert "bounded slice" in t and "lengths scaled by 0.125" in t and "mean rate" in t
    assert res.simulated["completed"] == 6 and res.simulated_same_decisions["completed"] == 6
    for m in ("mean_latency_s", "token_throughput_tps", "mean_ttft_s"):
        assert res.error[m] is not None and res.error_same_decisions[m] is not None
    # replaying the testbed's own decisions reproduces its perplexity exactly
    assert res.error_same_decisions["mean_perplexity"] == pytest.approx(0.0, abs=1e-12)
    assert res.processes["started"] == 3 and res.processes["left_running"] == []
    assert res.processes["host_model"] == "shared"
    # the same decisions under both host models, from this one run
    assert set(res.error_by_host_model) == {"shared", "partitioned"}
    assert res.error_by_host_model["shared"] == res.error_same_decisions
    # one thread per server on 2 servers: each pinned to its own CPU when there are 2 (none shared)
    cpus = res.processes["cpus_per_server"]
    assert cpus == [None, None] or (len({c[0] for c in cpus}) == 2 and all(len(c) == 1 for c in cpus))
    con = res.speed_check["contention"]  # each server decoding alone vs both at once
    assert set(con["ratio"]) == {"edge-1/q8_0", "edge-2/q4_0"} and all(v > 0 for v in con["ratio"].values())
    from goalit.cli.testbed import format_report

    text = format_report(res)
    assert "same decisions under each host model" in text and "shared (in effect)" in text


def children_of(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                out.append(int(entry.name))
    return out


@needs_data
def test_testbed_ctrl_c_stops_every_process(ladder, tmp_path):
    argv = [sys.executable, "-m", "goalit", "testbed", *TINY, "--requests", "40", "--rate", "0.5",
            "--work-dir", str(tmp_path)]  # fmt: skip
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env={**os.environ, "PYTHONPATH": SRC})  # fmt: skip
    try:
        t0 = time.monotonic()
        for line in proc.stderr:
            if "replaying" in line or time.monotonic() - t0 > 240:
                break
        kids = children_of(proc.pid)
        assert len(kids) == 3, kids  # two servers and the gateway, all running
        time.sleep(1.0)  # in the middle of the replay
        proc.send_signal(signal.SIGINT)
        rest = proc.stderr.read()
        assert proc.wait(timeout=60) == 130, rest
        assert "goalit: interrupted" in rest
        t1 = time.monotonic()
        while any(pid_running(p) for p in kids) and time.monotonic() - t1 < 10:
            time.sleep(0.05)
        assert not [p for p in kids if pid_running(p)], "processes left behind after Ctrl-C"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
