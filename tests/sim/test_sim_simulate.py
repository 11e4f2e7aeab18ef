"""goalit.simulate end to end: load-latency relation, conservation at a horizon, same seed same bytes,
common random numbers across policies, written outputs."""

from __future__ import annotations

import json

import numpy as np
import pytest

import goalit
from goalit.sim.records import COLUMNS


@pytest.mark.parametrize("policy", ["goalit", "nearest-q4"])
def test_latency_grows_as_load_approaches_capacity(policy):
    lat, queue = [], []
    for rate in (0.3, 1.5, 6.0):
        m = goalit.simulate("small", policy=policy, seed=0, rate=rate, duration_s=60.0).metrics
        assert m["unfinished"] == 0
        lat.append(m["mean_latency_s"])
        queue.append(m["p95_latency_s"])
    assert lat[0] < lat[1] < lat[2]
    assert queue[0] < queue[2]


def test_conservation_with_requests_left_at_the_horizon():
    res = goalit.simulate("default", policy="goalit", seed=4, rate=12.0, duration_s=30.0, horizon_s=20.0)
    m, rec = res.metrics, res.records
    c = m["conservation"]
    assert m["unfinished"] > 0 and m["completed"] > 0
    assert c["arrived"] == c["completed"] + c["unfinished"] + c["rejected"] == len(rec["status"])
    assert c["output_tokens_requested"] == c["output_tokens_generated"] + c["output_tokens_remaining"]
    done = rec["status"] == "completed"
    assert (rec["done_s"][done] <= 20.0).all() and np.isnan(rec["done_s"][~done]).all()
    assert (rec["tokens_generated"][done] == rec["output_tokens"][done]).all()
    left = ~done
    assert (rec["tokens_generated"][left] < rec["output_tokens"][left]).all()
    assert (rec["tokens_generated"][left] > 0).any()  # partially decoded sequences are counted
    assert m["sim_time_s"] == 20.0
    # arrivals after the horizon never entered the system: the window is cut at 30 s, horizon at 20 s
    assert (rec["arrival_s"][rec["status"] == "unfinished"] <= 30.0).all()


def test_conservation_token_sum_of_instances_equals_records():
    res = goalit.simulate("default", policy="goalit", seed=1, rate=6.0, duration_s=30.0)
    rec = res.records
    offl = rec["action"] >= 1
    assert sum(i["output_tokens"] for i in res.instances) == rec["tokens_generated"][offl].sum()
    assert res.metrics["unfinished"] == 0


def test_same_seed_same_bytes_and_common_random_numbers(tmp_path):
    kw = dict(seed=7, rate=3.0, duration_s=40.0)
    a = goalit.simulate("default", policy="goalit", **kw)
    b = goalit.simulate("default", policy="goalit", **kw)
    assert a.records_csv() == b.records_csv()
    assert a.summary_json() == b.summary_json()
    a.write(tmp_path / "a")
    b.write(tmp_path / "b")
    for name in ("records.csv", "summary.json", "records.parquet"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "records.csv",
        "records.parquet",
        "summary.json",
    ]

    other = goalit.simulate("default", policy="ot-gah", **kw)
    for col in ("arrival_s", "user", "prompt_tokens", "output_tokens", "deadline_s", "max_perplexity"):
        assert np.array_equal(a.records[col], other.records[col]), col
    assert (
        goalit.simulate("default", policy="goalit", seed=8, rate=3.0, duration_s=40.0).records_csv()
        != a.records_csv()
    )


def test_summary_has_the_documented_keys_and_is_valid_json():
    res = goalit.simulate("small", seed=0, rate=0.5, duration_s=10.0)
    s = json.loads(res.summary_json())
    for key in ("token_throughput_tps", "mean_latency_s", "p95_latency_s", "mean_perplexity", "completed",
                "unfinished", "p50_latency_s", "p99_latency_s", "mean_ttft_s", "mean_tpot_s", "slo_met_share",
                "device_energy_per_token_j", "server_energy_per_token_j", "mean_queue_delay_s", "instances",
                "workload", "conservation"):  # fmt: skip
        assert key in s, key
    assert res.mean_latency_s == s["mean_latency_s"]
    assert list(res.records) == list(COLUMNS)
    inst = s["instances"][0]
    for key in ("busy_share", "token_throughput_tps", "roofline_bound_tps", "roofline_utilisation"):
        assert key in inst


def test_mean_perplexity_is_token_weighted_over_completed_requests():
    res = goalit.simulate("default", policy="random", seed=3, rate=4.0, duration_s=20.0)
    rec = res.records
    done = rec["status"] == "completed"
    o = rec["output_tokens"][done]
    expect = (o * rec["perplexity"][done]).sum() / o.sum()
    assert res.metrics["mean_perplexity"] == pytest.approx(expect)
    assert len(set(rec["level"][done].tolist())) > 1


def test_bad_options_are_input_errors():
    with pytest.raises(goalit.GoalitInputError, match="rate"):
        goalit.simulate("small", rate=-1.0)
    with pytest.raises(goalit.GoalitInputError, match="horizon_s"):
        goalit.simulate("small", horizon_s=0.0)
    with pytest.raises(goalit.GoalitInputError, match="time_scale"):
        goalit.simulate("small", time_scale=2.0)
