"""``goalit compare`` and ``goalit solve --algorithm`` for every registry algorithm."""

from __future__ import annotations

import json

import pytest

from goalit.cli import main
from goalit.solvers.registry import REGISTRY


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_compare_json_all_algorithms_and_poa(capsys):
    code, out, _ = run(capsys, "compare", "small", "--json", "--seed", "3")
    assert code == 0
    data = json.loads(out)
    assert data["scenario"] == "small" and data["seed"] == 3
    assert [r["algorithm"] for r in data["results"]] == list(REGISTRY)
    by = {r["algorithm"]: r for r in data["results"]}
    assert data["optimum_status"] == "optimal"
    assert data["poa_goalit"] == pytest.approx(by["goalit"]["social_cost"] / by["optimum"]["social_cost"])
    assert data["poa_goalit"] >= 1 - 1e-9
    for r in data["results"]:
        assert r["cost_ratio"] >= 1 - 1e-9, r["algorithm"]
        assert "runtime_s" not in r
    assert by["ot-gah"]["nodes_explored"] >= 1
    assert by["optimum"]["milp_status"] == "optimal" and by["optimum"]["mip_gap"] <= 1e-6
    assert isinstance(by["greedy"]["oscillated"], bool)


def test_compare_json_is_byte_reproducible(capsys):
    first = run(capsys, "compare", "small", "--json", "--seed", "7")[1]
    assert run(capsys, "compare", "small", "--json", "--seed", "7")[1] == first


def test_compare_table(capsys):
    code, out, _ = run(capsys, "compare", "small")
    assert code == 0
    for name in REGISTRY:
        assert f"\n{name} " in out
    assert "price of anarchy of GOALIT's equilibrium:" in out
    assert "MILP optimal" in out


@pytest.mark.parametrize("algorithm", list(REGISTRY))
def test_solve_every_algorithm(capsys, algorithm):
    code, out, _ = run(capsys, "solve", "small", "--algorithm", algorithm, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["algorithm"] == algorithm and len(data["assignment"]) == 6


def test_solve_text_shows_algorithm_fields(capsys):
    code, out, _ = run(capsys, "solve", "small", "-a", "optimum", "--time-limit", "20")
    assert code == 0 and "proven optimum" in out and "mip gap" in out
    code, out, _ = run(capsys, "solve", "small", "-a", "ot-gah")
    assert code == 0 and "nodes explored" in out


@pytest.mark.parametrize(
    "argv",
    [
        ("compare", "small", "--time-limit", "-1"),
        ("compare", "small", "--seed", "x"),
        ("solve", "small", "--algorithm", "no-such-algorithm"),
    ],
)
def test_bad_input_is_one_line_exit_2(capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(list(argv))
    code = exc.value.code
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "error" in err


def test_missing_file_error_is_one_line(capsys, tmp_path):
    code, out, err = run(capsys, "compare", str(tmp_path / "missing.toml"))
    assert code == 2 and out == "" and err.startswith("goalit: error:") and len(err.strip().splitlines()) == 1
