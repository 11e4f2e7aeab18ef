"""Issue 15, one test per class, through the real ``goalit`` process: bounds on resources, outputs never
clobbered, Ctrl-C / SIGTERM / kill -9, messages naming the real culprit and no warnings on valid runs.

Every bad input ends with one stderr line ``goalit...: error: ...`` and exit 2, before any work."""

from __future__ import annotations

import gzip
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from goalit_process import SRC, TINY_SCENARIO, run_cli

pytestmark = pytest.mark.slow

SCENARIO = TINY_SCENARIO


def one_error_line(r, *words: str) -> str:
    assert r.code == 2, (r.code, r.err)
    lines = r.err.splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "Traceback" not in r.err, r.err
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


def tree(root: Path) -> dict[str, bytes | None]:
    return {
        str(p.relative_to(root)): (p.read_bytes() if p.is_file() else None) for p in sorted(root.rglob("*"))
    }


# --- bounds -----------------------------------------------------------------------------------------


def test_huge_counts_in_a_scenario_are_refused_with_the_limit(tmp_path):
    f = tmp_path / "huge.toml"
    f.write_text(SCENARIO.replace("[[users]]", "[users_generate]\ncount = 1000000000000\n[[users]]", 1))
    one_error_line(run_cli("scenario", "validate", str(f)), "users_generate.count", "100000")
    g = tmp_path / "servers.toml"
    g.write_text(SCENARIO + '[servers_generate]\ncount = 9223372036854775807\ntemplates = [{hardware = "rtx-4090", '
                 'instances = [{level = "q4_k_m", share = 1.0}]}]\n')  # fmt: skip
    one_error_line(run_cli("solve", str(g)), "servers_generate.count")


def test_bad_traces_end_in_one_line(tmp_path):
    mooncake = tmp_path / "big.jsonl"
    mooncake.write_text('{"timestamp": 0, "input_length": ' + "9" * 5000 + ', "output_length": 3}\n')
    one_error_line(
        run_cli("simulate", "small", "--trace", str(mooncake), "--no-progress"), "big.jsonl", "line 1"
    )
    packed = tmp_path / "trace.csv"
    packed.write_bytes(gzip.compress(b"TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,1,2\n"))
    one_error_line(run_cli("simulate", "small", "--trace", str(packed), "--no-progress"), "compressed")
    huge = tmp_path / "huge.csv"
    huge.write_text("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46.1,99999999999,2\n")
    one_error_line(
        run_cli("simulate", "small", "--trace", str(huge), "--no-progress"), "ContextTokens", "limit"
    )


def test_resource_flags_are_bounded_before_any_work(tmp_path):
    one_error_line(run_cli("reproduce", "--jobs", "1000", "--out", str(tmp_path / "r")), "--jobs", "<=")
    assert not (tmp_path / "r").exists()
    one_error_line(run_cli("simulate", "small", "--rate", "1e9", "--duration", "1e9", "--no-progress"),
                   "rate x duration", "limit")  # fmt: skip
    one_error_line(run_cli("solve", "small", "--seed", str(2**64)), "--seed", "<=")
    one_error_line(run_cli("simulate", "small", "--max-prompt-tokens", "1" * 5000), "--max-prompt-tokens")
    one_error_line(run_cli("reproduce", "--seeds", "100000", "--out", str(tmp_path / "r")), "--seeds")


# --- outputs ----------------------------------------------------------------------------------------


def test_out_never_clobbers_and_is_checked_before_any_work(tmp_path):
    (tmp_path / "existing.txt").write_text("precious\n")
    (tmp_path / "foreign").mkdir()
    (tmp_path / "foreign" / "notes.md").write_text("mine\n")
    before = tree(tmp_path)
    sim = ("simulate", "small", "--rate", "1", "--duration", "5", "--no-progress", "--out")
    one_error_line(run_cli(*sim, str(tmp_path / "existing.txt")), "not a directory")
    one_error_line(run_cli(*sim, str(tmp_path / "foreign")), "notes.md", "not a previous")
    one_error_line(run_cli(*sim, str(tmp_path / "existing.txt" / "sub")), "not a directory")
    one_error_line(run_cli(*sim, "/proc/goalit-no-such-dir"), "not writable")
    one_error_line(
        run_cli("reproduce", "--mode", "tiny", "--out", str(tmp_path / "foreign")), "not a previous"
    )
    one_error_line(run_cli("calibrate", "--out", str(tmp_path / "existing.txt")), "exists")
    assert tree(tmp_path) == before  # nothing touched, nothing created
    # a previous run of the same command is rewritten (temporary name + rename: no partial file left)
    r = run_cli(*sim, str(tmp_path / "run"))
    assert r.code == 0, r.err
    r = run_cli(*sim, str(tmp_path / "run"), "--seed", "3")
    assert r.code == 0, r.err
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == sorted(
        n for n in ("records.csv", "records.parquet", "summary.json") if n != "records.parquet" or
        (tmp_path / "run" / "records.parquet").exists()
    )  # fmt: skip
    assert '"seed": 3' in (tmp_path / "run" / "summary.json").read_text()


# --- interruptions ----------------------------------------------------------------------------------


def _start(*args: str, cwd: Path | None = None) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.Popen([sys.executable, "-m", "goalit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=env, cwd=cwd, start_new_session=True)  # fmt: skip


def _wait_for_handler(p: subprocess.Popen, timeout_s: float = 60.0) -> None:
    """Wait until the child catches SIGTERM (Linux /proc SigCgt mask): goalit installs its SIGINT and
    SIGTERM handlers together on its first line, and Python itself catches SIGINT but never SIGTERM.

    Before that the interpreter itself is starting up, a window no package code can reach (Python's own
    defaults apply there); on a loaded machine it can outlast a fixed sleep. The mask is read only once
    the child has exec'd (its cmdline is its own argv): between fork and exec it still shows the parent's
    handlers, and a signal sent then is taken by the parent's C-level handler in the child and lost."""
    sig = signal.SIGTERM
    deadline = time.monotonic() + timeout_s
    status, cmdline = Path(f"/proc/{p.pid}/status"), Path(f"/proc/{p.pid}/cmdline")
    argv = [str(a) for a in p.args]
    while time.monotonic() < deadline and p.poll() is None:
        try:
            execd = cmdline.read_bytes().split(b"\0")[:-1] == [a.encode() for a in argv]
            caught = next(line for line in status.read_text().splitlines() if line.startswith("SigCgt:"))
        except (OSError, StopIteration):
            return  # no /proc here: fall back to the fixed delays
        if execd and int(caught.split()[1], 16) >> (sig - 1) & 1:
            return
        time.sleep(0.005)


@pytest.mark.parametrize(("sig", "code", "word"), [(signal.SIGINT, 130, "interrupted"),
                                                    (signal.SIGTERM, 143, "terminated")])  # fmt: skip
def test_ctrl_c_and_sigterm_exit_with_one_line_at_any_moment(sig, code, word):
    # from the first goalit line on: during the imports (~0.1-0.5 s after it) and during the run
    for delay in (0.0, 0.3, 0.6, 1.0, 2.0):
        p = _start("simulate", "default", "--rate", "200", "--duration", "300", "--no-progress")
        _wait_for_handler(p)
        time.sleep(delay)
        p.send_signal(sig)
        out, err = p.communicate(timeout=120)
        text = err.decode()
        assert p.returncode == code, (delay, p.returncode, text)
        assert text == f"goalit: {word}\n", (delay, text)


def _descendants(pid: int) -> list[int]:
    out = subprocess.run(
        ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True
    ).stdout.split()
    kids = [int(x) for x in out]
    return kids + [d for k in kids for d in _descendants(k)]


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def test_kill_9_of_reproduce_leaves_no_worker_and_keeps_finished_points(tmp_path):
    out = tmp_path / "rep"
    p = _start("reproduce", "--mode", "tiny", "--jobs", "2", "--no-progress", "--out", str(out))
    csv = out / "results.csv"
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:  # wait for some finished points
        if csv.exists() and csv.read_text().count("\n") >= 4:
            break
        time.sleep(0.2)
    workers = _descendants(p.pid)
    assert workers, "the sweep started no worker"
    p.kill()
    p.wait()
    p.stdout.read()  # EOF only once no worker holds stdout
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and any(_alive(w) for w in workers):
        time.sleep(0.2)
    assert not [w for w in workers if _alive(w)]
    rows = csv.read_text().splitlines()
    assert len(rows) >= 4 and all(r.count(",") >= 4 for r in rows[1:])
    assert not [f for f in out.iterdir() if f.name.endswith(".tmp")]


# --- messages ---------------------------------------------------------------------------------------


def test_overflow_names_the_radio_field_not_a_user(tmp_path):
    f = tmp_path / "radio.toml"
    f.write_text(SCENARIO + "[radio]\nnoise_psd_dbm_hz = 1e300\n")
    line = one_error_line(run_cli("solve", str(f)), "radio.noise_psd_dbm_hz", "the cost overflows")
    assert "users[0]:" not in line.split("radio.noise_psd_dbm_hz")[0]


def test_valid_runs_print_no_warning(tmp_path):
    # a user far outside every AP (rate 0: an infinite uplink) and extreme but valid values
    f = tmp_path / "far.toml"
    f.write_text(SCENARIO + "[[users]]\nposition_m = [1e15, 0.0]\nprompt_tokens = 1\noutput_tokens = 1\n"
                 "deadline_s = 1e-9\nw_quality = 0.0\nw_energy = 0.0\n")  # fmt: skip
    for args in (
        ("solve", str(f), "--json"),
        ("simulate", str(f), "--rate", "2", "--duration", "5", "--no-progress"),
    ):
        r = run_cli(*args)
        assert r.code == 0, r.err
        assert r.err == "", r.err
