"""Validation of incoming OpenAI-style request bodies into a ``Job`` (the request as a player).

A bad request raises ``BadRequest`` (HTTP status, one-line reason, OpenAI error code); the gateway
answers it as ``{"error": {"message", "type": "invalid_request_error", "param", "code"}}``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from goalit.serve.config import GatewayConfig
from goalit.serve.router import Job

GOALIT_FIELDS = ("w_latency", "w_quality", "w_energy", "deadline_s", "max_perplexity")
# Stated limits on what a body may hold (docs/serve.md, "Limits"): integers within +-2^53 (exact in a
# float64, and what JavaScript clients can send), finite floats, nesting depth 32, valid Unicode (no lone
# surrogates, which cannot be encoded as UTF-8 to the backend); each goalit field at most 1e12 (far above
# any meaningful weight, deadline or perplexity: larger ones only overflow the cost model).
MAX_INT = 2**53
MAX_DEPTH = 32
GOALIT_FIELD_MAX = 1e12
CHAT_ROLES = ("system", "developer", "user", "assistant", "tool", "function")
CHAT_TOKENS_PER_MESSAGE = 4  # ChatML framing "<|im_start|>role\n ... <|im_end|>\n" (SmolLM2 chat template)
KINDS = ("completions", "chat/completions")


class BadRequest(Exception):
    """A request the gateway refuses: ``status`` (400, 413, ...), one-line ``message``, error ``code``."""

    def __init__(self, status: int, message: str, code: str = "invalid_request", param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param

    def body(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": "invalid_request_error", "param": self.param,
                          "code": self.code}}  # fmt: skip


@dataclass(frozen=True)
class ParsedRequest:
    """A validated request: what to forward (``body`` without the ``goalit`` field) and the player."""

    kind: str  # "completions" or "chat/completions"
    body: dict[str, Any]
    stream: bool
    job: Job


def parse_body(raw: bytes, kind: str, config: GatewayConfig) -> ParsedRequest:
    """Validate ``raw`` (the HTTP body) for endpoint ``/v1/<kind>``."""
    try:
        body = json.loads(raw, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise BadRequest(400, f"body is not valid JSON ({err})", "invalid_json") from None
    except UnicodeDecodeError:
        raise BadRequest(400, "body is not UTF-8 text", "invalid_json") from None
    except ValueError as err:  # an integer of more than 4300 digits, NaN or Infinity
        reason = str(err).split(";")[0]
        raise BadRequest(400, f"body is not valid JSON ({reason})", "invalid_json") from None
    except RecursionError:
        raise BadRequest(400, "body is nested too deeply", "invalid_json") from None
    if not isinstance(body, dict):
        raise BadRequest(400, f"body must be a JSON object, not {type(body).__name__}", "invalid_json")
    check_values(body)
    gw = config.gateway

    model = body.get("model", config.model)
    if not isinstance(model, str):
        raise BadRequest(400, "'model' must be a string", param="model")
    levels = model_levels(model, config)
    if kind == "completions":
        if "prompt" not in body:
            raise BadRequest(400, "missing required field 'prompt'", param="prompt")
        chars = _prompt_chars(body["prompt"])
        overhead = 0
    else:
        chars, n_msg = _message_chars(body.get("messages"))
        overhead = CHAT_TOKENS_PER_MESSAGE * n_msg
    prompt_tokens = max(1, math.ceil(chars / gw.chars_per_token) + overhead)

    max_tokens = body.get("max_tokens", body.get("max_completion_tokens"))
    if max_tokens is None:
        max_tokens = gw.default_max_tokens
    elif (
        isinstance(max_tokens, bool)
        or not isinstance(max_tokens, int)
        or not 1 <= max_tokens <= gw.max_tokens_limit
    ):
        raise BadRequest(
            400, f"'max_tokens' must be an integer in [1, {gw.max_tokens_limit}]", param="max_tokens"
        )
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest(400, "'stream' must be true or false", param="stream")
    n = body.get("n", 1)
    if n != 1:
        raise BadRequest(400, "only n = 1 is supported", param="n")

    prefs = _goalit_fields(body.get("goalit", {}), config)
    served = levels or {lv for b in config.backends for lv in b.levels}
    if not any(config.llm.levels[lv].perplexity <= prefs["max_perplexity"] for lv in served):
        best = min(config.llm.levels[lv].perplexity for lv in served)
        bound = prefs["max_perplexity"]
        raise BadRequest(400, f"goalit.max_perplexity {bound:g} is below the best level served for {model!r} "
                         f"(perplexity {best:g})", param="goalit.max_perplexity")  # fmt: skip
    job = Job(
        prompt_tokens=prompt_tokens, output_tokens=int(max_tokens), levels=levels, w_latency=prefs["w_latency"],
        w_quality=prefs["w_quality"], w_energy=prefs["w_energy"], deadline_s=prefs["deadline_s"],
        max_perplexity=prefs["max_perplexity"],
    )  # fmt: skip
    forward = {k: v for k, v in body.items() if k != "goalit"}
    forward["max_tokens"] = int(max_tokens)  # explicit, so the backend does what the cost model assumed
    forward.pop("max_completion_tokens", None)
    return ParsedRequest(kind=kind, body=forward, stream=stream, job=job)


def model_levels(model: str, config: GatewayConfig) -> frozenset[str] | None:
    """Levels admitted by a public model name: None for the family, one level for ``family:level``."""
    if model == config.model:
        return None
    family, sep, level = model.partition(":")
    served = {lv for b in config.backends for lv in b.levels}
    if sep and family == config.model and level in served:
        return frozenset({level})
    raise BadRequest(400, f"unknown model {model!r} (available: {', '.join(config.public_models())})",
                     "model_not_found", "model")  # fmt: skip


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def check_values(value: Any, path: str = "", depth: int = 0) -> None:
    """Every value of the body within the stated limits (``MAX_INT``, finite, ``MAX_DEPTH``, Unicode)."""
    if depth > MAX_DEPTH:
        raise BadRequest(400, f"body is nested deeper than {MAX_DEPTH} levels", "invalid_json")
    if isinstance(value, str):
        _check_text(value, path)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int):
        if not -MAX_INT <= value <= MAX_INT:
            raise BadRequest(400, f"{path or 'body'}: integer out of range (limit +-2^53)",
                             param=path or None)  # fmt: skip
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise BadRequest(400, f"{path or 'body'}: number must be finite", param=path or None)
    elif isinstance(value, dict):
        for k, v in value.items():
            _check_text(k, path)
            check_values(v, f"{path}.{k}" if path else k, depth + 1)
    elif isinstance(value, list):
        for k, v in enumerate(value):
            check_values(v, f"{path}[{k}]", depth + 1)


def _check_text(text: str, path: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BadRequest(400, f"{path or 'body'}: string holds a lone surrogate (invalid Unicode)",
                         param=path or None) from None  # fmt: skip


def _prompt_chars(prompt: Any) -> int:
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise BadRequest(400, "'prompt' must be a string or a list of one string", param="prompt")
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise BadRequest(400, "'prompt' must be a string", param="prompt")
    return len(prompt)


def _message_chars(messages: Any) -> tuple[int, int]:
    if not isinstance(messages, list) or not messages:
        raise BadRequest(400, "'messages' must be a non-empty list", param="messages")
    chars = 0
    for k, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise BadRequest(400, f"messages[{k}] must be an object with a string 'role'", param="messages")
        if msg["role"] not in CHAT_ROLES:
            raise BadRequest(400, f"messages[{k}].role: unknown role {msg['role'][:40]!r} (expected one of: "
                             f"{', '.join(CHAT_ROLES)})", param="messages")  # fmt: skip
        content = msg.get("content")
        if isinstance(content, str):
            chars += len(content)
        elif isinstance(content, list):
            for part in content:
                if not isinstance(part, dict) or not isinstance(part.get("text", ""), str):
                    raise BadRequest(
                        400, f"messages[{k}].content parts must be objects with text", param="messages"
                    )
                chars += len(part.get("text", ""))
        elif content is not None:
            raise BadRequest(
                400, f"messages[{k}].content must be a string or a list of parts", param="messages"
            )
    return chars, len(messages)


def _goalit_fields(value: Any, config: GatewayConfig) -> dict[str, float]:
    if not isinstance(value, dict):
        raise BadRequest(400, "'goalit' must be an object", param="goalit")
    unknown = sorted(set(value) - set(GOALIT_FIELDS))
    if unknown:
        raise BadRequest(400, f"goalit.{unknown[0]}: unknown field (expected: {', '.join(GOALIT_FIELDS)})",
                         param="goalit")  # fmt: skip
    d = config.defaults
    out = {f: float(getattr(d, f)) for f in GOALIT_FIELDS}
    bounds = {"w_latency": (0.0, False), "w_quality": (0.0, True), "w_energy": (0.0, True),
              "deadline_s": (0.0, False), "max_perplexity": (1.0, True)}  # fmt: skip
    for key, v in value.items():
        lo, inclusive = bounds[key]
        ok = isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) <= GOALIT_FIELD_MAX
        if not ok or not (v >= lo if inclusive else v > lo):
            rel = ">=" if inclusive else ">"
            raise BadRequest(400, f"goalit.{key}: must be a number {rel} {lo:g} and <= {GOALIT_FIELD_MAX:g}",
                             param=f"goalit.{key}")  # fmt: skip
        out[key] = float(v)
    return out
