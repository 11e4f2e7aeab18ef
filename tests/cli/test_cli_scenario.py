"""``goalit scenario list|show|validate`` (in-process through ``goalit.cli.main``; one real process)."""

from __future__ import annotations

import tomllib

import pytest

from goalit.cli import main
from goalit.scenario import embedded_scenario, parse_scenario
from goalit.scenario.embedded import embedded_text
from goalit_process import run_cli


def test_list(capsys):
    assert main(["scenario", "list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    names = [line.split()[0] for line in lines]
    assert names == sorted(names) and {"default", "small", "large"} <= set(names)
    assert all(len(line.split()) > 1 for line in lines)  # every scenario has a description


def test_show_summary(capsys):
    assert main(["scenario", "show", "small"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("scenario small: ")
    assert "6 users, 2 servers" in out
    for header in ("server", "hardware", "level", "share", "d(1) ms/token", "KV cap", "AP K"):
        assert header in out
    # one row per instance: gpu q8_0, gpu q4_k_m, orin q4_k_m, orin q2_k
    rows = [line.split() for line in out.splitlines() if line.startswith(("gpu ", "orin "))]
    assert [(r[0], r[2]) for r in rows] == [
        ("gpu", "q8_0"),
        ("gpu", "q4_k_m"),
        ("orin", "q4_k_m"),
        ("orin", "q2_k"),
    ]
    assert all(r[-1] == "partitioned" for r in rows)


def test_show_reports_sharing_mode_and_hosted_variants(capsys):
    assert main(["scenario", "show", "default"]) == 0
    out = capsys.readouterr().out
    assert "sharing" in out
    rows = [line.split() for line in out.splitlines() if line.startswith("edge-4090-a ")]
    assert [(r[2], r[-1]) for r in rows] == [("fp16", "shared"), ("q4_k_m", "shared")]
    assert len({r[5] for r in rows}) == 1  # one KV pool: the same capacity for every hosted variant


def test_show_toml_round_trips(capsys):
    assert main(["scenario", "show", "default", "--toml"]) == 0
    text = capsys.readouterr().out
    assert parse_scenario(tomllib.loads(text)) == embedded_scenario("default")


def test_show_and_validate_a_file(tmp_path, capsys):
    path = tmp_path / "mine.toml"
    path.write_text(embedded_text("small"), encoding="utf-8")
    assert main(["scenario", "validate", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"{path}: valid (6 users, 2 servers, llm llama-3-8b)"
    assert main(["scenario", "show", str(path)]) == 0
    assert capsys.readouterr().out.startswith("scenario small: ")


@pytest.mark.slow
def test_validate_real_process(tmp_path):
    path = tmp_path / "default.toml"
    path.write_text(embedded_text("default"), encoding="utf-8")
    res = run_cli("scenario", "validate", str(path))
    assert res.code == 0 and res.err == ""
    assert res.out.strip() == f"{path}: valid (50 users, 4 servers, llm llama-3-8b)"
