"""Scenario TOML: round trip (dump -> parse -> equal users, servers, profiles), embedded scenarios,
inline and included profiles, and one-line validation errors naming the field."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings

from goalit.errors import ScenarioError
from goalit.scenario import (
    EMBEDDED,
    builtin_profiles,
    dump_scenario,
    embedded_scenario,
    load_scenario_file,
    parse_scenario,
)
from goalit.scenario.model import USER_FIELDS, Scenario
from goalit_strategies import scenarios


def round_trip(s: Scenario) -> Scenario:
    return parse_scenario(tomllib.loads(dump_scenario(s)))


def assert_same(a: Scenario, b: Scenario) -> None:
    assert b.users == a.users
    for f in USER_FIELDS + ("device",):  # bit-identical columns, integer token counts
        assert np.array_equal(getattr(a.users, f), getattr(b.users, f)), f
    assert b.users.prompt_tokens.dtype.kind == "i" and b.users.output_tokens.dtype.kind == "i"
    assert b.servers == a.servers
    assert b.hardware == a.hardware
    assert b.llm == a.llm
    assert (b.name, b.description, b.local_level, b.radio, b.game) == (
        a.name, a.description, a.local_level, a.radio, a.game,
    )  # fmt: skip
    assert b == a


def test_embedded_scenarios_load():
    assert set(EMBEDDED) >= {"default", "small", "large"}
    small = embedded_scenario("small")
    assert small.n_users == 6 and len(small.servers) == 2
    default = embedded_scenario("default")
    assert default.n_users == 50 and len(default.servers) == 4  # docs/model.md C.6
    assert [s.hardware for s in default.servers] == ["rtx-4090"] * 2 + ["jetson-agx-orin-64gb"] * 2
    assert all(s.ap.subchannels == 20 for s in default.servers)  # 20 MHz / 1 MHz
    levels = {i.level for s in default.servers for i in s.instances}
    assert levels == {"fp16", "q8_0", "q4_k_m", "q3_k_m", "q2_k"}
    assert all(s.sharing == "shared" for s in default.servers)  # issue 10: shared is the default
    ablation = embedded_scenario("default-partitioned")
    assert [s.hosts for s in ablation.servers] == [s.hosts for s in default.servers]
    for s in ablation.servers:
        assert s.sharing == "partitioned" and sum(i.share for i in s.instances) <= 1 + 1e-12


def test_large_scenario_size():
    large = embedded_scenario("large")
    assert large.n_users == 10_000 and len(large.servers) == 50
    assert len({i.level for s in large.servers for i in s.instances}) == 5


@pytest.mark.parametrize("name", ["small", "default"])
def test_round_trip_embedded(name):
    s = embedded_scenario(name)
    assert_same(s, round_trip(s))


def test_round_trip_generated_with_inline_profiles():
    """A generated scenario (servers_generate + users_generate) whose LLM and one hardware profile are
    not the built-in ones: both must be written inline and read back identical."""
    text = """
name = "gen"
description = "generated"
[servers_generate]
count = 3
area_m = [400.0, 200.0]
[[servers_generate.templates]]
hardware = "rtx-4090"
instances = [{ level = "q8_0", share = 0.6 }, { level = "q2_k", share = 0.4 }]
[[servers_generate.templates]]
hardware = "jetson-orin-nano-8gb"
instances = [{ level = "q4_k_m", share = 1.0 }]
[users_generate]
count = 25
seed = 11
prompt_tokens = { loguniform = [16, 2048] }
w_energy = { choice = [0.0, 0.5, 1.0] }
max_perplexity = { uniform = [6.5, 20.0] }
"""
    s = parse_scenario(tomllib.loads(text))
    assert s.n_users == 25 and [sv.name for sv in s.servers] == ["server-0", "server-1", "server-2"]
    assert_same(s, round_trip(s))
    cat = builtin_profiles()
    hw = dataclasses.replace(cat.hardware["rtx-4090"], eta_c=0.55, sources={"eta_c": "test"})
    model = dataclasses.replace(cat.llm["llama-3-8b"], name="tiny-llm", params=1.0e9, layers=16)
    custom = dataclasses.replace(s, hardware={**s.hardware, "rtx-4090": hw}, llm=model)
    doc = tomllib.loads(dump_scenario(custom))
    assert "rtx-4090" in doc["hardware"] and "snapdragon-8-gen-3" not in doc.get("hardware", {})
    assert isinstance(doc["llm"], dict) and list(doc["llm"]) == ["tiny-llm"]
    assert_same(custom, round_trip(custom))


@settings(max_examples=25, deadline=None)
@given(scenario=scenarios())
def test_round_trip_random_scenarios(scenario):
    assert_same(scenario, round_trip(scenario))


def test_same_seed_same_users_other_seed_other_users():
    base = {
        "servers": [
            {"position_m": [0, 0], "hardware": "rtx-4090", "instances": [{"level": "q4_k_m", "share": 1}]}
        ],
        "users_generate": {"count": 40, "seed": 5},
    }
    a = parse_scenario(base).users
    b = parse_scenario(base).users
    assert a == b
    c = parse_scenario({**base, "users_generate": {"count": 40, "seed": 6}}).users
    assert not np.array_equal(a.x_m, c.x_m)
    # the default distributions of docs/model.md C.6
    assert a.prompt_tokens.min() >= 64 and a.prompt_tokens.max() <= 512
    assert a.output_tokens.min() >= 64 and a.output_tokens.max() <= 512
    assert a.deadline_s.min() >= 5 and a.deadline_s.max() <= 30
    assert set(a.w_energy.tolist()) <= {0.0, 0.1} and np.all(a.w_latency == 1.0)
    assert np.all((a.x_m >= 0) & (a.x_m <= 300) & (a.y_m >= 0) & (a.y_m <= 300))


def test_default_scenario_users_are_stable():
    """The embedded default is generated from seed 2026: re-parsing the embedded text gives the same users."""
    from goalit.scenario.embedded import embedded_text

    again = parse_scenario(tomllib.loads(embedded_text("default")))
    assert again.users == embedded_scenario("default").users


def test_included_profile_file(tmp_path: Path):
    (tmp_path / "mine.toml").write_text(
        """
[hardware.my-gpu]
memory_bytes = 48e9
mem_bw_bytes_per_s = 864e9
flops_fp16 = 181e12
eta_c = 0.6
step_overhead_s = 0.001
power_w = 300.0
eta_m = { default = 0.8 }
""",
        encoding="utf-8",
    )
    (tmp_path / "s.toml").write_text(
        """
profiles = ["mine.toml"]
[[servers]]
position_m = [0, 0]
hardware = "my-gpu"
instances = [{ level = "fp16", share = 1.0 }]
[[users]]
position_m = [10, 10]
prompt_tokens = 10
output_tokens = 10
deadline_s = 1
w_quality = 0
w_energy = 0
""",
        encoding="utf-8",
    )
    s = load_scenario_file(tmp_path / "s.toml")
    assert s.hardware["my-gpu"].mem_bw_bytes_per_s == 864e9
    assert s.servers[0].name == "server-0"
    assert_same(s, round_trip(s))  # the included profile is written inline


MINIMAL = {
    "servers": [
        {"position_m": [0, 0], "hardware": "rtx-4090", "instances": [{"level": "q4_k_m", "share": 1.0}]}
    ],
    "users": [
        {"position_m": [1, 1], "prompt_tokens": 10, "output_tokens": 10, "deadline_s": 1.0, "w_quality": 0.0,
         "w_energy": 0.0}
    ],
}  # fmt: skip


GEN_SERVERS = {
    "count": 2,
    "templates": [{"hardware": "rtx-4090", "instances": [{"level": "q2_k", "share": 1}]}],
}


def with_(path: str, value, doc=None):
    """A copy of MINIMAL with ``path`` (dotted, integers index lists) set to ``value`` (None deletes)."""
    import copy

    d = copy.deepcopy(MINIMAL if doc is None else doc)
    *head, last = [int(p) if p.isdigit() else p for p in path.split(".")]
    node = d
    for p in head:
        node = node[p]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return d


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (with_("users.0.prompt_tokens", -3), "users[0].prompt_tokens: must be > 0"),
        (with_("users.0.output_tokens", 0), "users[0].output_tokens: must be > 0"),
        (with_("users.0.prompt_tokens", 10.5), "users[0].prompt_tokens: must be an integer"),
        (with_("users.0.w_quality", -0.1), "users[0].w_quality: must be >= 0"),
        (with_("users.0.deadline_s", float("nan")), "users[0].deadline_s: must be finite"),
        (with_("users.0.deadline_s", float("inf")), "users[0].deadline_s: must be finite"),
        (with_("users.0.deadline_s", "soon"), "users[0].deadline_s: must be a number, not str"),
        (with_("users.0.deadline_s", True), "users[0].deadline_s: must be a number, not bool"),
        (with_("users.0.deadline_s", None), "users[0].deadline_s: missing required key"),
        (with_("users.0.colour", "red"), "users[0].colour: unknown key"),
        (with_("users.0.position_m", [1]), "users[0].position_m: must be a list of two numbers"),
        (with_("users.0.device", "iphone"), "users[0].device: unknown value 'iphone'"),
        (with_("users", []), "users: must define at least one user"),
        (with_("users", None), "users: must define at least one user"),
        (with_("servers", []), "servers: must define at least one server"),
        (with_("servers", {"a": 1}), "servers: must be an array of tables, not dict"),
        (with_("servers.0.hardware", "h100"), "servers[0].hardware: unknown value 'h100'"),
        (with_("servers.0.instances.0.level", "q5"), "servers[0].instances[0].level: unknown value 'q5'"),
        (with_("servers.0.instances.0.share", 1.5), "servers[0].instances[0].share: must be <= 1"),
        (with_("servers.0.instances.0.share", 0), "servers[0].instances[0].share: must be > 0"),
        (with_("servers.0.instances", []), "servers[0].instances: must list at least one model instance"),
        (
            with_("servers.0.ap", {"bandwidth_hz": 5e5}),
            "servers[0].ap.subchannel_hz: must be <= bandwidth_hz",
        ),
        (with_("servers.0.ap", {"bandwidth": 5e5}), "servers[0].ap.bandwidth: unknown key"),
        (with_("llm", "gpt-5"), "llm: unknown value 'gpt-5'"),
        (with_("local_level", "int4"), "local_level: unknown value 'int4'"),
        (with_("game", {"epsilon": 0}), "game.epsilon: must be > 0"),
        (with_("game", {"max_slots": 2.5}), "game.max_slots: must be an integer"),
        (with_("game", 3), "game: must be a table, not int"),
        (with_("radio", {"carrier_ghz": -1}), "radio.carrier_ghz: must be > 0"),
        (with_("radio", {"noise_figure_db": float("nan")}), "radio.noise_figure_db: must be finite"),
        (with_("speed", 3), "speed: unknown key"),
        (with_("users_generate", {"count": 0}), "users_generate.count: must be > 0"),
        (with_("users_generate", {"count": 2, "area_m": [0, 10]}), "users_generate.area_m: must be > 0"),
        (
            with_("servers_generate", GEN_SERVERS | {"area_m": [100, 0]}),
            "servers_generate.area_m: must be > 0",
        ),
        (
            with_("servers_generate", GEN_SERVERS | {"area_m": [-5, 10]}),
            "servers_generate.area_m: must be > 0",
        ),
        (with_("servers_generate", GEN_SERVERS | {"templates": []}), "servers_generate.templates: must list"),
        (with_("users_generate", {"count": 3, "w_energy": {"uniform": [1, 0]}}), "users_generate.w_energy"),
        (with_("users_generate", {"count": 3, "prompt_tokens": {"normal": [1, 2]}}), "unknown distribution"),
    ],
)
def test_invalid_documents_give_one_line_errors(doc, message):
    with pytest.raises(ScenarioError) as err:
        parse_scenario(doc, origin="x.toml")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("x.toml: ")
    assert message in text


def test_top_level_keys_are_all_checked():
    """Every top-level key that is not part of the format is rejected (no key is silently ignored)."""
    for key in ("llm_profiles", "server", "user", "levels"):
        with pytest.raises(ScenarioError, match=f"{key}: unknown key"):
            parse_scenario(with_(key, 1), origin="x.toml")
