"""Sharing modes in scenario files: hosts, legacy shares, memory validation (one line, server and bytes over)."""

from __future__ import annotations

import tomllib

import pytest
from hypothesis import given, settings

from goalit.errors import ScenarioError
from goalit.scenario import dump_scenario, parse_scenario
from goalit_strategies import scenarios

BASE = """
name = "sharing"
[[servers]]
name = "gpu"
position_m = [0.0, 0.0]
hardware = "rtx-4090"
{server}
[[users]]
position_m = [10.0, 0.0]
prompt_tokens = 100
output_tokens = 100
deadline_s = 5.0
w_quality = 0.0
w_energy = 0.0
"""


def parse(server: str):
    return parse_scenario(tomllib.loads(BASE.format(server=server)))


def test_hosts_make_a_shared_server_and_shares_a_partitioned_one():
    s = parse('hosts = ["fp16", "q4_k_m"]').servers[0]
    assert s.sharing == "shared" and s.hosts == ("fp16", "q4_k_m") and {i.share for i in s.instances} == {1.0}
    s = parse('instances = [{ level = "q8_0", share = 0.5 }]').servers[0]
    assert s.sharing == "partitioned" and s.instances[0].share == 0.5  # legacy file keeps its meaning
    s = parse('sharing = "shared"\ninstances = [{ level = "q8_0" }]').servers[0]
    assert s.sharing == "shared" and s.hosts == ("q8_0",)


@pytest.mark.parametrize(
    ("server", "message"),
    [
        ('hosts = ["fp16", "q8_0", "q2_k"]', "servers[0].hosts: server 'gpu' needs"),
        ('hosts = ["q5"]', "servers[0].hosts[0]: unknown value 'q5'"),
        ('hosts = ["q8_0", "q8_0"]', "servers[0].hosts[1]: level 'q8_0' is hosted twice"),
        (
            'sharing = "partitioned"\nhosts = ["q8_0"]',
            "servers[0].hosts: a partitioned server lists instances",
        ),
        (
            'sharing = "shared"\ninstances = [{ level = "q8_0", share = 0.5 }]',
            "servers[0].instances[0].share:",
        ),
        ('sharing = "both"\nhosts = ["q8_0"]', "servers[0].sharing: unknown value 'both'"),
        ('hosts = "q8_0"', "servers[0].hosts: must be a list of level names"),
    ],
)
def test_bad_sharing_input_is_one_line(server, message):
    with pytest.raises(ScenarioError) as err:
        parse(server)
    text = str(err.value)
    assert message in text and "\n" not in text


def test_memory_error_names_the_server_and_the_bytes_over():
    # RTX 4090: 25,769,803,776 B; fp16 + q8_0 = 24.62e9 B + KV of one 200-token sequence (26,214,400 B)
    with pytest.raises(ScenarioError) as err:
        parse('hosts = ["fp16", "q8_0", "q4_k_m"]')
    over = 16.07e9 + 8.55e9 + 4.92e9 + 131072 * 200 - 25769803776
    assert f"{over:.0f} bytes over" in str(err.value)
    parse('hosts = ["fp16", "q4_k_m"]')  # 21.0 GB fits


@settings(max_examples=25, deadline=None)
@given(scenario=scenarios(sharing=("shared", "partitioned")))
def test_round_trip_keeps_sharing_and_hosts(scenario):
    doc = tomllib.loads(dump_scenario(scenario))
    try:
        again = parse_scenario(doc)
    except ScenarioError as err:  # a shared server whose hosted weights do not fit is rejected on reading
        assert "bytes over" in str(err)
        return
    assert again.servers == scenario.servers
