"""Prompt token counts from the backend's own tokenizer.

``goalit.serve.requests`` estimates a prompt's tokens as characters / ``chars_per_token`` (+ the chat
framing). When a backend runs llama.cpp's ``llama-server`` (engine ``llama-server``), the gateway asks
its ``POST /tokenize`` endpoint instead, which tokenizes with the served model's vocabulary, and keeps
the estimate as the fallback when no such backend is up or it does not answer within ``timeout_s``.
Chat requests add ``CHAT_TOKENS_PER_MESSAGE`` framing tokens per message to the tokenized contents.
"""

from __future__ import annotations

from dataclasses import replace

import httpx

from goalit.serve.config import GatewayConfig
from goalit.serve.requests import CHAT_TOKENS_PER_MESSAGE, ParsedRequest

TIMEOUT_S = 2.0  # a loopback /tokenize answers in milliseconds; past this the estimate is used


def prompt_text(parsed: ParsedRequest) -> tuple[str, int]:
    """The text to tokenize and the framing tokens to add (chat: per message)."""
    body = parsed.body
    if parsed.kind == "completions":
        p = body.get("prompt", "")
        return (p[0] if isinstance(p, list) else p), 0
    parts = []
    for msg in body.get("messages", []):
        c = msg.get("content")
        if isinstance(c, str):
            parts.append(c)
        elif isinstance(c, list):
            parts.extend(str(x.get("text", "")) for x in c if isinstance(x, dict))
    return "\n".join(parts), CHAT_TOKENS_PER_MESSAGE * len(body.get("messages", []))


class TokenCounter:
    """Counts prompt tokens with a ``llama-server`` backend's ``/tokenize`` (round robin over those up)."""

    def __init__(self, config: GatewayConfig, timeout_s: float = TIMEOUT_S) -> None:
        self.urls = [b.url for b in config.backends if b.engine == "llama-server"]
        self.timeout_s = timeout_s
        self._next = 0

    async def count(self, client: httpx.AsyncClient, parsed: ParsedRequest, up: list[bool]) -> int | None:
        """Tokens of the prompt by a backend tokenizer, or None (no tokenizer backend up, or it failed)."""
        cfg_up = [u for u, ok in zip(self.urls, up, strict=True) if ok]
        if not cfg_up:
            return None
        url = cfg_up[self._next % len(cfg_up)]
        self._next += 1
        text, framing = prompt_text(parsed)
        try:
            r = await client.post(f"{url}/tokenize", json={"content": text}, timeout=self.timeout_s)
            if r.status_code != 200:
                return None
            tokens = r.json().get("tokens")
        except (httpx.HTTPError, ValueError):
            return None
        if not isinstance(tokens, list):
            return None
        return max(1, len(tokens) + framing)


def with_prompt_tokens(parsed: ParsedRequest, n: int) -> ParsedRequest:
    """``parsed`` whose player has ``n`` prompt tokens."""
    return replace(parsed, job=replace(parsed.job, prompt_tokens=int(n)))
