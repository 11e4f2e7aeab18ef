"""Bad input, one class per test: the real ``goalit`` process prints ONE line naming the field and the
problem on stderr, exits with code 2, prints no traceback and writes nothing to stdout.

Every case runs ``python -m goalit scenario validate FILE`` or ``goalit solve FILE`` in its own process.
The processes are started together (a few at a time) when the module's first test runs, because each
one spends most of its ~0.5-1 s importing NumPy."""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor

import pytest

from goalit_process import TINY_SCENARIO, run_cli

VALID = TINY_SCENARIO


def edit(old: str, new: str) -> str:
    assert old in VALID
    return VALID.replace(old, new)


# id -> (file content (str, bytes or a marker), command, substrings the one error line must contain)
CASES: dict[str, tuple[object, str, tuple[str, ...]]] = {
    "missing_key": (
        edit("deadline_s = 10.0\n", ""),
        "validate",
        ("users[0].deadline_s", "missing required key"),
    ),
    "unknown_key": (
        edit("w_energy = 0.0", "w_energy = 0.0\ncolour = 1"),
        "validate",
        ("users[0].colour", "unknown key"),
    ),
    "wrong_type": (
        edit("prompt_tokens = 100", 'prompt_tokens = "many"'),
        "solve",
        ("users[0].prompt_tokens", "must be a number, not str"),
    ),
    "negative": (
        edit("deadline_s = 10.0", "deadline_s = -5.0"),
        "validate",
        ("users[0].deadline_s", "must be > 0"),
    ),
    "zero": (
        edit("output_tokens = 100", "output_tokens = 0"),
        "solve",
        ("users[0].output_tokens", "must be > 0"),
    ),
    "nan": (edit("w_quality = 0.0", "w_quality = nan"), "solve", ("users[0].w_quality", "must be finite")),
    "infinite": (
        edit("bandwidth_hz = 4e6", "bandwidth_hz = inf"),
        "validate",
        ("servers[0].ap.bandwidth_hz", "must be finite"),
    ),
    "empty_users": (
        "users = []\n" + VALID[: VALID.index("[[users]]")],
        "validate",
        ("users", "must define at least one user"),
    ),
    "empty_servers": (
        "servers = []\n" + VALID[VALID.index("[[users]]") :],
        "validate",
        ("servers", "must define at least one server"),
    ),
    "no_feasible_action": (
        edit("w_energy = 0.0", "w_energy = 0.0\nmax_perplexity = 6.0"),
        "solve",
        ("bad.toml: users[0]", "no feasible action"),
    ),
    "unknown_hardware": (
        edit('hardware = "rtx-4090"', 'hardware = "rtx-9090"'),
        "validate",
        ("servers[0].hardware", "unknown value 'rtx-9090'", "rtx-4090"),
    ),
    "unknown_llm": ('llm = "gpt-9"\n' + VALID, "validate", ("llm", "unknown value 'gpt-9'", "llama-3-8b")),
    "unknown_level": (
        edit('level = "q4_k_m"', 'level = "int4"'),
        "validate",
        ("servers[0].instances[0].level", "unknown value 'int4'", "q4_k_m"),
    ),
    "missing_file": ("<missing>", "validate", ("nope.toml", "cannot read scenario file", "No such file")),
    "directory": ("<directory>", "solve", ("adir", "is a directory")),
    "not_utf8": (b'name = "\xff\xfe"\n', "validate", ("bad.toml", "not a UTF-8 text file")),
    "invalid_toml": ('name = "t"\nseed = = 3\n', "validate", ("bad.toml", "not valid TOML", "line 2")),
}

# further classes, checked in-process through goalit.cli.main (same code path, no NumPy start-up)
IN_PROCESS: dict[str, tuple[object, str, tuple[str, ...]]] = {
    "unknown_top_key": ("llm_profiles = 1\n" + VALID, "validate", ("llm_profiles", "unknown key")),
    "wrong_type_table": (
        edit('name = "t"', 'name = "t"\ngame = 5'),
        "validate",
        ("game", "must be a table, not int"),
    ),
    "negative_weight": (
        edit("w_quality = 0.0", "w_quality = -1.0"),
        "validate",
        ("users[0].w_quality", "must be >= 0"),
    ),
    "not_integer": (
        edit("prompt_tokens = 100", "prompt_tokens = 100.5"),
        "validate",
        ("users[0].prompt_tokens", "must be an integer"),
    ),
    "unknown_local_level": (
        'local_level = "int4"\n' + VALID,
        "validate",
        ("local_level", "unknown value 'int4'"),
    ),
    "unknown_device": (
        edit("w_energy = 0.0", 'w_energy = 0.0\ndevice = "pager"'),
        "validate",
        ("users[0].device", "unknown value 'pager'"),
    ),
    "integer_too_large": (
        edit("prompt_tokens = 100", "prompt_tokens = 1e30"),
        "validate",
        ("users[0].prompt_tokens", "must be <= 9007199254740992"),
    ),
    "cost_overflow": (
        edit("w_quality = 0.0", "w_quality = 0.0\nw_latency = 1e308"),
        "solve",
        ("bad.toml: users[0]", "the cost overflows"),
    ),
    "generated_servers_without_area": (
        'servers_generate = { count = 2, area_m = [100.0, 0.0], templates = [{ hardware = "rtx-4090", '
        'instances = [{ level = "q2_k", share = 1.0 }] }] }\n' + VALID[VALID.index("[[users]]") :],
        "validate",
        ("servers_generate.area_m", "must be > 0"),
    ),
}

FLAG_CASES: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "negative_seed": (["solve", "small", "--seed", "-1"], ("--seed", "must be >= 0")),
    "unknown_flag": (["solve", "small", "--fast"], ("unrecognized arguments: --fast",)),
    "missing_command": ([], ("required", "COMMAND")),
    "misspelt_option": (
        ["solve", "small", "-o", "epsilonn=1e-4"],
        ("goalit: unknown option(s) epsilonn", "did you mean 'epsilon'"),
    ),
    "option_without_value": (["solve", "small", "-o", "epsilon"], ("--option", "KEY=VALUE")),
    "bad_grant": (["solve", "small", "-o", "grant=fastest"], ("grant", "must be one of parallel")),
}
IN_PROCESS_FLAGS: dict[str, tuple[list[str], tuple[str, ...]]] = {
    "non_integer_seed": (["solve", "small", "--seed", "abc"], ("--seed", "invalid integer 'abc'")),
    "unknown_algorithm": (
        ["solve", "small", "--algorithm", "magic"],
        ("--algorithm", "unknown algorithm 'magic'"),
    ),
    "unknown_command": (["frobnicate"], ("invalid choice: 'frobnicate'",)),
    "validate_without_file": (["scenario", "validate"], ("required", "FILE")),
    "unknown_scenario_action": (["scenario", "edit"], ("invalid choice: 'edit'",)),
    "unknown_scenario_name": (["solve", "smal"], ("smal", "no embedded scenario or file", "small")),
    "missing_scenario_file": (["solve", "smal.toml"], ("smal.toml", "cannot read scenario file")),
    "json_without_value_flag": (["solve", "small", "--seed"], ("--seed", "expected one argument")),
}


def materialise(folder, content, command) -> list[str]:
    """Write the case's file into ``folder``; the argv that runs the command on it."""
    folder.mkdir()
    if content == "<missing>":
        target = "nope.toml"
    elif content == "<directory>":
        (folder / "adir").mkdir()
        target = "adir"
    else:
        target = "bad.toml"
        (folder / target).write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    return ["scenario", "validate", target] if command == "validate" else ["solve", target, "--json"]


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Run every subprocess case in its own ``goalit`` process, four at a time."""
    root = tmp_path_factory.mktemp("bad")
    jobs: dict[str, tuple[list[str], object]] = {}
    for name, (content, command, _) in CASES.items():
        jobs[name] = (materialise(root / name, content, command), root / name)
    for name, (argv, _) in FLAG_CASES.items():
        jobs["flag:" + name] = (argv, root)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(run_cli, *argv, cwd=cwd) for name, (argv, cwd) in jobs.items()}
        return {name: f.result() for name, f in futures.items()}


class InProcess:
    """The outcome of ``goalit.cli.main(argv)``: exit code (returned or via SystemExit) and output."""

    def __init__(self, argv, capsys, monkeypatch, cwd) -> None:
        from goalit.cli import main

        monkeypatch.chdir(cwd)
        try:
            self.code = main(argv)
        except SystemExit as stop:
            self.code = stop.code
        captured = capsys.readouterr()
        self.out, self.err = captured.out, captured.err


def assert_one_line_error(res, needles) -> None:
    assert res.code == 2, (res.code, res.err)
    assert res.out == "", "nothing may be written to stdout on bad input"
    assert "Traceback" not in res.err
    lines = res.err.splitlines()
    assert len(lines) == 1, res.err
    assert re.match(r"^goalit( \w+)*: error: ", lines[0]), lines[0]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_bad_scenario_file(results, case):
    assert_one_line_error(results[case], CASES[case][2])


@pytest.mark.slow
@pytest.mark.parametrize("case", list(FLAG_CASES))
def test_bad_cli_flags(results, case):
    assert_one_line_error(results["flag:" + case], FLAG_CASES[case][1])


@pytest.mark.parametrize("case", list(IN_PROCESS))
def test_bad_scenario_file_in_process(case, tmp_path, capsys, monkeypatch):
    content, command, needles = IN_PROCESS[case]
    argv = materialise(tmp_path / "case", content, command)
    assert_one_line_error(InProcess(argv, capsys, monkeypatch, tmp_path / "case"), needles)


@pytest.mark.parametrize("case", list(IN_PROCESS_FLAGS))
def test_bad_cli_flags_in_process(case, tmp_path, capsys, monkeypatch):
    argv, needles = IN_PROCESS_FLAGS[case]
    assert_one_line_error(InProcess(argv, capsys, monkeypatch, tmp_path), needles)
