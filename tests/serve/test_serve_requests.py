"""Validation of request bodies into players (the gateway answers BadRequest with its status and reason)."""

from __future__ import annotations

import json

import pytest
from serve_helpers import write_config

from goalit.serve.config import load_config
from goalit.serve.requests import BadRequest, parse_body


@pytest.fixture
def config(tmp_path):
    return load_config(write_config(tmp_path / "g.toml", ["http://127.0.0.1:9001"], {"chars_per_token": 4.0}))


def parse(config, body, kind="completions"):
    return parse_body(json.dumps(body).encode(), kind, config)


def test_serve_requests_completion_becomes_a_player(config):
    p = parse(config, {"prompt": "x" * 400, "max_tokens": 20, "goalit": {"w_quality": 0.5, "deadline_s": 9}})
    assert p.job.prompt_tokens == 100 and p.job.output_tokens == 20
    assert p.job.w_quality == 0.5 and p.job.deadline_s == 9.0 and p.job.w_latency == 1.0
    assert p.job.levels is None and not p.stream
    assert "goalit" not in p.body and p.body["max_tokens"] == 20


def test_serve_requests_chat_counts_message_framing_and_sets_max_tokens(config):
    msgs = [
        {"role": "system", "content": "a" * 40},
        {"role": "user", "content": [{"type": "text", "text": "b" * 40}]},
    ]
    p = parse(config, {"model": "smollm2:q4_0", "messages": msgs, "stream": True}, "chat/completions")
    assert p.job.prompt_tokens == 20 + 2 * 4
    assert p.job.levels == frozenset({"q4_0"}) and p.stream
    assert p.body["max_tokens"] == config.gateway.default_max_tokens  # made explicit for the backend


@pytest.mark.parametrize(
    ("body", "status", "code", "kind"),
    [
        (b"{", 400, "invalid_json", "completions"),
        (b"\xff\xfe", 400, "invalid_json", "completions"),
        (b'"text"', 400, "invalid_json", "completions"),
        (b"[" * 100_000 + b"]" * 100_000, 400, "invalid_json", "completions"),
        (b'{"model": 3}', 400, "invalid_request", "completions"),
        (b'{"model": "smollm2:q2_k"}', 400, "model_not_found", "completions"),
        (b'{"model": "other:q4_0"}', 400, "model_not_found", "completions"),
        (b'{"prompt": ["a", "b"]}', 400, "invalid_request", "completions"),
        (b'{"prompt": 5}', 400, "invalid_request", "completions"),
        (b'{"prompt": "a", "max_tokens": 1.5}', 400, "invalid_request", "completions"),
        (b'{"prompt": "a", "max_tokens": true}', 400, "invalid_request", "completions"),
        (b'{"prompt": "a", "max_tokens": 100000}', 400, "invalid_request", "completions"),
        (b'{"prompt": "a", "stream": "yes"}', 400, "invalid_request", "completions"),
        (b'{"prompt": "a", "n": 2}', 400, "invalid_request", "completions"),
        (b'{"prompt": "a", "goalit": []}', 400, "invalid_request", "completions"),
        (b'{"prompt": "a", "goalit": {"w_energy": -0.1}}', 400, "invalid_request", "completions"),
        (b'{"prompt": "a", "goalit": {"deadline_s": 0}}', 400, "invalid_request", "completions"),
        (b'{"prompt": "a", "goalit": {"max_perplexity": 20}}', 400, "invalid_request", "completions"),
        (b'{"messages": []}', 400, "invalid_request", "chat/completions"),
        (b'{"messages": [{"content": "hi"}]}', 400, "invalid_request", "chat/completions"),
        (b'{"messages": [{"role": "user", "content": 7}]}', 400, "invalid_request", "chat/completions"),
    ],
)
def test_serve_requests_bad_bodies_get_a_one_line_reason(config, body, status, code, kind):
    with pytest.raises(BadRequest) as err:
        parse_body(body, kind, config)
    e = err.value
    assert e.status == status and e.code == code
    assert e.message and "\n" not in e.message
    assert e.body()["error"]["type"] == "invalid_request_error"
