"""The results CSV: torn-line recovery, duplicates, schema checks, locking, cell round trip."""

from __future__ import annotations

import math

import pytest

from goalit.errors import GoalitInputError
from goalit.experiments.results import load_rows, parse_cell
from goalit.experiments.store import ResultStore, format_value, read_rows

COLS = ("x", "trace")


def _row(seed: int, h: str = "abc", x: float = 0.1) -> dict:
    return {"experiment": "e", "policy": "p", "seed": seed, "config_hash": h, "config": '{"a":1}', "x": x,
            "trace": [1.5, 2.5]}  # fmt: skip


def test_store_creates_header_and_appends_complete_lines(tmp_path):
    path = tmp_path / "r.csv"
    with ResultStore(path, COLS) as st:
        assert st.open() == set()
        st.append(_row(0))
        st.append(_row(1))
    data = path.read_bytes()
    assert data.startswith(b"experiment,policy,seed,config_hash,config,x,trace\n")
    assert data.endswith(b"\n") and data.count(b"\n") == 3
    with ResultStore(path, COLS) as st:
        assert st.open() == {("abc", 0), ("abc", 1)}
        assert st.repaired == 0


def test_store_drops_a_torn_last_line_and_keeps_the_rest(tmp_path):
    path = tmp_path / "r.csv"
    with ResultStore(path, COLS) as st:
        st.open()
        st.append(_row(0))
        st.append(_row(1))
    whole = path.read_bytes()
    torn = whole + b'e,p,2,abc,"{""a"":1}",0.3'  # a kill -9 in the middle of a write
    path.write_bytes(torn)
    with ResultStore(path, COLS) as st:
        assert st.open() == {("abc", 0), ("abc", 1)}
        assert st.repaired == 1
        st.append(_row(2))
    rows = read_rows(path)
    assert [int(r["seed"]) for r in rows] == [0, 1, 2]
    assert path.read_bytes().startswith(whole)


def test_store_drops_duplicates_and_garbage_lines(tmp_path):
    path = tmp_path / "r.csv"
    with ResultStore(path, COLS) as st:
        st.open()
        st.append(_row(0))
        st.append(_row(0, x=9.0))  # a duplicate key (never written by a sweep; repaired anyway)
        st.append(_row(1))
    path.write_bytes(path.read_bytes() + b"not,a,row\n")
    with ResultStore(path, COLS) as st:
        assert st.open() == {("abc", 0), ("abc", 1)}
        assert st.repaired == 2
    rows = read_rows(path)
    assert [(r["seed"], r["x"]) for r in rows] == [("0", "0.1"), ("1", "0.1")]


def test_store_refuses_another_schema(tmp_path):
    path = tmp_path / "r.csv"
    path.write_text("experiment,policy,seed,config_hash,config,other\n")
    with pytest.raises(GoalitInputError, match="columns differ"):
        ResultStore(path, COLS).open()
    assert path.read_text() == "experiment,policy,seed,config_hash,config,other\n"  # untouched


def test_store_is_locked_while_a_sweep_writes(tmp_path):
    path = tmp_path / "r.csv"
    with ResultStore(path, COLS) as st:
        st.open()
        with pytest.raises(GoalitInputError, match="another sweep"):
            ResultStore(path, COLS).open()
    with ResultStore(path, COLS) as st:  # released on close
        st.open()


def test_store_sort_orders_rows_by_plan(tmp_path):
    path = tmp_path / "r.csv"
    with ResultStore(path, COLS) as st:
        st.open()
        for s in (2, 0, 1):
            st.append(_row(s))
        st.sort([("abc", 0), ("abc", 1), ("abc", 2)])
        st.append(_row(3))  # still appendable after the rewrite
    assert [int(r["seed"]) for r in read_rows(path)] == [0, 1, 2, 3]


@pytest.mark.parametrize("value", [0.1, 1e-300, -2.5e17, 3, True, False, "ot-gah", [1.0, 2.25], None])
def test_store_cells_round_trip(value):
    back = parse_cell(format_value(value))
    assert back == value


def test_store_nan_and_inf_round_trip():
    assert math.isnan(parse_cell(format_value(float("nan"))))
    assert parse_cell(format_value(float("inf"))) == math.inf


def test_store_rows_load_typed(tmp_path):
    path = tmp_path / "r.csv"
    with ResultStore(path, COLS) as st:
        st.open()
        st.append(_row(0))
    (row,) = load_rows(path)
    assert row["config"] == {"a": 1} and row["trace"] == [1.5, 2.5] and row["x"] == 0.1 and row["seed"] == 0
