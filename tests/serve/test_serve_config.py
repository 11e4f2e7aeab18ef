"""Gateway configuration: loading, defaults and one-line errors naming the field."""

from __future__ import annotations

import pytest
from serve_helpers import PROFILE, write_config

from goalit.cli import main
from goalit.errors import ScenarioError
from goalit.serve.config import load_config


def cfg_text(backends: str = "", top: str = "", gateway: str = "") -> str:
    b = backends or ('[[backends]]\nname = "a"\nurl = "http://127.0.0.1:9001"\nhardware = "test-cpu"\n'
                     'levels = { q8_0 = "m8", q4_0 = "m4" }\n')  # fmt: skip
    return (f'llm = "test-smollm2"\nprofiles = ["{PROFILE}"]\n{top}\n'
            f"[gateway]\n{gateway}\n{b}")  # fmt: skip


def test_serve_config_loads_with_defaults(tmp_path):
    path = write_config(tmp_path / "g.toml", ["http://127.0.0.1:9001", "http://127.0.0.1:9002/"])
    cfg = load_config(path)
    assert [b.name for b in cfg.backends] == ["edge-a", "edge-b"]
    assert cfg.backends[1].url == "http://127.0.0.1:9002"  # trailing slash dropped
    assert cfg.gateway.host == "127.0.0.1" and cfg.gateway.policy == "goalit"
    assert cfg.backends[0].batching == "serial" and cfg.backends[0].concurrency == 1
    assert cfg.backends[0].swap_s == pytest.approx(0.2)
    assert cfg.public_models() == ["smollm2", "smollm2:q8_0", "smollm2:q4_0"]
    assert cfg.defaults.w_latency == 1.0 and cfg.defaults.max_perplexity == 1e9


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (f'backends = []\nllm = "test-smollm2"\nprofiles = ["{PROFILE}"]\n', "backends: must list"),
        (cfg_text(top='model = "a:b"'), "model: must be a non-empty name without ':'"),
        (cfg_text(gateway='policy = "fastest"'), "gateway.policy: unknown value 'fastest'"),
        (cfg_text(gateway='host = "example.org"'), "gateway.host: must be an IP address"),
        (cfg_text(gateway="max_queue = -1"), "gateway.max_queue: must be >= 0"),
        (cfg_text(gateway="colour = 1"), "gateway.colour: unknown key"),
        (cfg_text(backends='[[backends]]\nname = "a"\nurl = "http://h:1/v1"\nhardware = "test-cpu"\n'
                           'levels = { q8_0 = "m" }\n'), "backends[0].url: must not have a path"),
        (cfg_text(backends='[[backends]]\nname = "a"\nurl = "ftp://h:1"\nhardware = "test-cpu"\n'
                           'levels = { q8_0 = "m" }\n'), "backends[0].url: must be an http:// or https://"),
        (cfg_text(backends='[[backends]]\nname = "a"\nurl = "http://h:1"\nhardware = "gpu9000"\n'
                           'levels = { q8_0 = "m" }\n'), "backends[0].hardware: unknown value 'gpu9000'"),
        (cfg_text(backends='[[backends]]\nname = "a"\nurl = "http://h:1"\nhardware = "test-cpu"\n'
                           'levels = { q1 = "m" }\n'), "backends[0].levels.q1: unknown level"),
        (cfg_text(backends='[[backends]]\nname = "a"\nurl = "http://h:1"\nhardware = "test-cpu"\n'
                           'levels = { q8_0 = "m", q4_0 = "m" }\n'), "backends[0].levels: model name 'm'"),
        (cfg_text(backends='[[backends]]\nname = "a"\nurl = "http://h:1"\nhardware = "test-cpu"\n'
                           'levels = { q8_0 = "m" }\n[[backends]]\nname = "a"\nurl = "http://h:2"\n'
                           'hardware = "test-cpu"\nlevels = { q8_0 = "m" }\n'), "backends[1].name: dup"),
        (cfg_text(backends='[[backends]]\nname = "a"\nurl = "http://h:1"\nhardware = "test-cpu"\n'
                           'levels = { q8_0 = "m" }\nbatching = "magic"\n'), "backends[0].batching: unknown"),
        ('llm = "nope"\n[[backends]]\n', "llm: unknown value 'nope'"),
    ],
    ids=["no-backends", "model", "policy", "host", "queue", "unknown-key", "url-path", "url-scheme",
         "hardware", "level", "alias", "duplicate", "batching", "llm"],
)  # fmt: skip
def test_serve_config_errors_are_one_line_and_name_the_field(tmp_path, text, where):
    path = tmp_path / "g.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_config(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)) and where in msg


def test_serve_cli_bad_config_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "g.toml"
    path.write_text(cfg_text(gateway="max_retries = 1000"), encoding="utf-8")
    assert main(["serve", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("goalit: error: ") and "gateway.max_retries" in err[0]
    assert main(["serve", "--config", str(tmp_path / "missing.toml")]) == 2


def test_serve_cli_rejects_bad_host_and_busy_port(tmp_path, capsys):
    import socket

    path = write_config(tmp_path / "g.toml", ["http://127.0.0.1:9"])
    assert main(["serve", "--config", str(path), "--host", "not-an-ip"]) == 2
    assert "--host" in capsys.readouterr().err
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert main(["serve", "--config", str(path), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


def test_serve_config_llama_server_engine_defaults_and_one_level(tmp_path):
    one = ('[[backends]]\nname = "a"\nurl = "http://127.0.0.1:9001"\nhardware = "test-cpu"\n'
           'levels = { q8_0 = "m8" }\nengine = "llama-server"\n')  # fmt: skip
    p = tmp_path / "g.toml"
    p.write_text(cfg_text(backends=one), encoding="utf-8")
    b = load_config(p).backends[0]
    assert (b.engine, b.batching, b.concurrency, b.swap_s) == ("llama-server", "continuous", 4, 0.0)
    p.write_text(cfg_text(backends=one.replace('q8_0 = "m8"', 'q8_0 = "m8", q4_0 = "m4"')), encoding="utf-8")
    with pytest.raises(
        ScenarioError, match=r"backends\[0\].levels: a llama-server backend serves exactly one"
    ):
        load_config(p)
    p.write_text(cfg_text(backends=one.replace("llama-server", "vllm")), encoding="utf-8")
    with pytest.raises(ScenarioError, match=r"backends\[0\].engine: unknown value 'vllm'"):
        load_config(p)


def test_serve_config_step_table_must_be_readable(tmp_path):
    p = tmp_path / "g.toml"
    p.write_text(cfg_text(top=f'step_table = "{PROFILE}"'), encoding="utf-8")
    with pytest.raises(ScenarioError, match="step_table: cannot read a step table"):
        load_config(p)


def test_serve_llama_server_binary_override_must_be_executable(tmp_path, monkeypatch):
    from goalit.errors import GoalitInputError
    from goalit.serve.llama_server import LlamaServerSpec, llama_server_binary

    monkeypatch.setenv("GOALIT_LLAMA_SERVER", str(tmp_path / "nope"))
    with pytest.raises(GoalitInputError, match=r"\$GOALIT_LLAMA_SERVER: .*nope is not an executable"):
        llama_server_binary()
    with pytest.raises(GoalitInputError, match="a llama-server process serves exactly one model"):
        LlamaServerSpec("x", {"a": tmp_path, "b": tmp_path}, engine="llama-server")
    with pytest.raises(GoalitInputError, match="engine must be one of"):
        LlamaServerSpec("x", {"a": tmp_path}, engine="vllm")


def _on_host(name: str, port: int, extra: str = "", hardware: str = "test-cpu") -> str:
    return (f'[[backends]]\nname = "{name}"\nurl = "http://127.0.0.1:{port}"\nhardware = "{hardware}"\n'
            f'levels = {{ q8_0 = "m-{name}" }}\nengine = "llama-server"\n{extra}\n')  # fmt: skip


def test_serve_config_host_groups_backends_of_one_machine(tmp_path):
    p = tmp_path / "g.toml"
    text = _on_host("a", 9001, 'host = "box"') + _on_host("b", 9002) + _on_host("c", 9003, 'host = "box"')
    p.write_text(cfg_text(backends=text), encoding="utf-8")
    cfg = load_config(p)
    assert [b.host for b in cfg.backends] == ["box", "", "box"]
    assert cfg.host_groups() == {"box": (0, 2)}
    p.write_text(cfg_text(backends=_on_host("a", 9001)), encoding="utf-8")
    assert load_config(p).host_groups() == {}  # saying nothing: every backend on a machine of its own


@pytest.mark.parametrize(
    ("text", "where"),
    [
        (_on_host("a", 9001, 'host = ""'), "backends[0].host: must be a non-empty machine name"),
        (_on_host("a", 9001, "host = 3"), "backends[0].host: must be a string"),
        (_on_host("a", 9001, 'host = "box"\nbatching = "serial"'),
         'backends[0].host: a backend on a shared host must use batching = "continuous"'),
        (_on_host("a", 9001, 'host = "box"\nshare = 0.5'), "backends[0].share: a backend on a shared host"),
        (_on_host("a", 9001, 'host = "box"') + _on_host("b", 9002, 'host = "box"', "snapdragon-8-gen-3"),
         "backends[1].hardware: backend 'b' is on host 'box' with hardware 'snapdragon-8-gen-3'"),
    ],
    ids=["empty", "type", "serial", "share", "hardware"],
)  # fmt: skip
def test_serve_config_host_errors_are_one_line_and_name_the_key(tmp_path, text, where):
    path = tmp_path / "g.toml"
    path.write_text(cfg_text(backends=text), encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        load_config(path)
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith(str(path)) and where in msg
