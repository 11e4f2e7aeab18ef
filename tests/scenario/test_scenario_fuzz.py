"""Fuzzing the scenario reader: any mutation of a valid document either loads (and then builds a game
with finite costs) or raises a one-line ``ScenarioError`` -- never another exception."""

from __future__ import annotations

import copy
import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from goalit.errors import ScenarioError
from goalit.game.model import build_game, check_feasible
from goalit.scenario.toml_io import parse_scenario

DOC = {
    "name": "fuzz",
    "local_level": "q4_k_m",
    "radio": {"carrier_ghz": 3.5, "noise_figure_db": 9.0, "access_overhead_s": 0.01},
    "game": {"epsilon": 1e-5, "capacity_penalty_s": 1000.0, "max_slots": 100, "kv_context_tokens": 2048},
    "hardware": {
        "my-gpu": {
            "memory_bytes": 48e9,
            "mem_bw_bytes_per_s": 864e9,
            "flops_fp16": 181e12,
            "eta_c": 0.6,
            "step_overhead_s": 0.001,
            "power_w": 300.0,
            "eta_m": {"default": 0.8, "q4_k_m": 0.7},
        }
    },
    "servers": [
        {
            "name": "a",
            "position_m": [0.0, 0.0],
            "hardware": "my-gpu",
            "ap": {"bandwidth_hz": 4e6, "subchannel_hz": 1e6, "tx_power_w": 1.0, "coverage_m": 500.0},
            "instances": [{"level": "q4_k_m", "share": 0.5}, {"level": "fp16", "share": 0.5}],
        }
    ],
    "servers_generate": {
        "count": 2,
        "area_m": [200.0, 100.0],
        "templates": [{"hardware": "rtx-4090", "instances": [{"level": "q2_k", "share": 1.0}]}],
    },
    "users": [
        {
            "position_m": [10.0, 5.0],
            "prompt_tokens": 100,
            "output_tokens": 50,
            "deadline_s": 5.0,
            "w_quality": 0.1,
            "w_energy": 0.1,
            "max_perplexity": 8.0,
        }
    ],
    "users_generate": {
        "count": 3,
        "seed": 1,
        "prompt_tokens": {"uniform": [10, 20]},
        "w_energy": {"choice": [0.0, 0.1]},
        "deadline_s": {"loguniform": [1.0, 10.0]},
    },
}

VALUES = st.sampled_from(
    [
        None,
        "x",
        "",
        -1,
        0,
        1,
        0.5,
        -0.5,
        1e30,
        1e308,
        2**70,
        math.nan,
        math.inf,
        -math.inf,
        True,
        [],
        [1],
        [1, 2, 3],
        ["a", "b"],
        {},
        {"a": 1},
        {"uniform": [1]},
        {"choice": []},
        [{"x": 1}],
    ]  # fmt: skip
)


def paths(node, prefix=()):
    """Every path to a value of the document (dict keys and list indices)."""
    items = node.items() if isinstance(node, dict) else enumerate(node) if isinstance(node, list) else ()
    for k, v in items:
        yield prefix + (k,)
        yield from paths(v, prefix + (k,))


ALL_PATHS = list(paths(DOC))


def mutate(doc, path, value, extra_key: bool):
    d = copy.deepcopy(doc)
    node = d
    for k in path[:-1]:
        node = node[k]
    last = path[-1]
    if extra_key and isinstance(node, dict):
        node["unexpected_" + str(last)] = value
    elif value is None and isinstance(node, dict):
        del node[last]
    elif value is not None:
        node[last] = value
    return d


def test_unmutated_document_is_valid():
    check_feasible(build_game(parse_scenario(copy.deepcopy(DOC))))


@settings(max_examples=150, deadline=None)
@given(
    edits=st.lists(
        st.tuples(st.sampled_from(ALL_PATHS), VALUES, st.booleans()).filter(lambda e: True),
        min_size=1,
        max_size=3,
    )
)
def test_mutated_documents_load_or_fail_in_one_line(edits):
    doc = DOC
    for path, value, extra in edits:
        try:
            doc = mutate(doc, path, value, extra)
        except (KeyError, IndexError, TypeError):
            continue  # the path no longer exists after an earlier edit
    try:
        scenario = parse_scenario(doc, origin="f.toml")
        with np.errstate(all="ignore"):
            game = build_game(scenario)
        check_feasible(game)
    except ScenarioError as err:
        assert "\n" not in str(err) and str(err)
        return
    assert np.isfinite(game.alpha).all() and not np.isnan(game.beta).any()
