"""Issue 15 on the gateway, over real loopback sockets to a real ``goalit serve`` process: every malformed
request gets its 4xx with the JSON error body, slow clients get 408 within the configured timeouts, the
log holds no traceback and the gateway stays up. (Backends are closed ports: a well-formed request is
answered 503, which shows that the parser admitted it.)"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("uvicorn")

import goalit_fuzz_http as H  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    work = tmp_path_factory.mktemp("gw")
    gw = H.GatewayProcess(H.write_config(work / "gateway.toml", 1.0, 1.0), work / "gateway.log")
    yield gw
    log = gw.log()
    gw.close()
    assert "Traceback" not in log, log


def post(gw, path: str, body: bytes, **kw):
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
    return H.request(gw.port, head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body, **kw)


CASES = {
    "int_400_digits_max_tokens": ("/v1/completions", b'{"prompt": "x", "max_tokens": ' + b"9" * 400 + b"}", 400, "max_tokens"),
    "int_400_digits_goalit": ("/v1/completions", b'{"prompt": "x", "goalit": {"deadline_s": ' + b"9" * 400 + b"}}", 400,
                              "goalit.deadline_s"),
    "int_400_digits_other_field": ("/v1/completions", b'{"prompt": "x", "seed": ' + b"9" * 400 + b"}", 400, "seed"),
    "int_5000_digits": ("/v1/completions", b'{"prompt": "x", "max_tokens": ' + b"9" * 5000 + b"}", 400, "JSON"),
    "nan": ("/v1/completions", b'{"prompt": "x", "temperature": NaN}', 400, "NaN"),
    "missing_prompt": ("/v1/completions", b'{"max_tokens": 4}', 400, "prompt"),
    "lone_surrogate_prompt": ("/v1/completions", b'{"prompt": "a\\ud800b"}', 400, "surrogate"),
    "lone_surrogate_message": ("/v1/chat/completions", b'{"messages": [{"role": "user", "content": "\\udfff"}]}',
                               400, "surrogate"),
    "unknown_role": ("/v1/chat/completions", b'{"messages": [{"role": "wizard", "content": "hi"}]}', 400, "role"),
    "deep_nesting": ("/v1/completions", b'{"prompt": "x", "stop": ' + b"[" * 100 + b"]" * 100 + b"}", 400, "nested"),
    "well_formed": ("/v1/completions", b'{"prompt": "The capital of France is", "max_tokens": 4}', 503, "no backend"),
}  # fmt: skip


@pytest.mark.parametrize(("path", "body", "status", "word"), CASES.values(), ids=CASES.keys())
def test_malformed_requests_get_a_4xx_with_a_json_error_body(gateway, path, body, status, word):
    code, _headers, content = post(gateway, path, body)
    assert code == status, content
    err = json.loads(content)["error"]
    assert word in err["message"] or word == err.get("param"), err
    assert err["code"] and "\n" not in err["message"]


def test_unknown_path_and_method_get_json_error_bodies(gateway):
    for raw in (b"GET /v2/nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"GET /v1/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                b"NOT HTTP AT ALL\r\n\r\n"):  # fmt: skip
        code, _h, content = H.request(gateway.port, raw)
        assert code in (400, 404, 405)
        assert json.loads(content)["error"]["message"]


@pytest.mark.parametrize("case", H.slow_cases(1.0, 1.0), ids=lambda c: c.label)
def test_slow_clients_get_408_within_the_timeouts(gateway, case):
    # only the 1 s header/body timeouts answer 408 (the socket itself would wait 30 s)
    code, _h, content = H.request(gateway.port, case.raw, timeout_s=30.0, pieces=case.pieces)
    assert code == 408, content
    assert json.loads(content)["error"]["code"] in ("header_timeout", "body_timeout")


def test_gateway_is_healthy_after_all_of_it(gateway):
    code, _h, content = H.request(
        gateway.port, b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
    )
    assert code == 503 and json.loads(content)["status"] == "unavailable"  # no backend, but it answers
    assert gateway.alive()
