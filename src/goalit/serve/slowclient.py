"""A header read timeout for the gateway's HTTP server, and JSON bodies for protocol-level errors.

uvicorn (h11) waits for a request's line and headers without a time limit: a client that connects
and sends nothing, or trickles header bytes, holds its connection for as long as it likes. The
protocol below gives every request ``header_timeout_s`` from its first byte (or from the connection)
to the end of its headers; then it answers ``408`` with the gateway's JSON error body and closes.
Malformed HTTP (which uvicorn answers with a plain-text 400) gets the JSON body too. The body's own
timeout is the gateway's (``Gateway._read_body``).
"""

from __future__ import annotations

import asyncio
import json

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol


def _error_bytes(status: int, reason: str, message: str, code: str) -> bytes:
    body = json.dumps(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}}
    ).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


def protocol_class(header_timeout_s: float) -> type[H11Protocol]:
    """An ``H11Protocol`` subclass with the given header timeout (pass it as uvicorn's ``http``)."""

    class TimedH11Protocol(H11Protocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            super().data_received(data)
            if self.transport.is_closing():
                self._disarm()
            elif self.conn.their_state is h11.IDLE:
                self._arm()  # a request has begun (or the next one on a kept-alive connection)
            else:
                self._disarm()  # headers complete: the body has its own timeout

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if self._header_timer is None:
                self._header_timer = self.loop.call_later(header_timeout_s, self._expired)

        def _disarm(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

        def _expired(self) -> None:
            self._header_timer = None
            if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
                return
            if self.cycle is not None and not self.cycle.response_complete:
                return  # still answering the previous request (pipelining): not a stalled client
            self.transport.write(
                _error_bytes(
                    408,
                    "Request Timeout",
                    f"request headers not received within {header_timeout_s:g} s",
                    "header_timeout",
                )  # fmt: skip
            )
            self.transport.close()

        def send_400_response(self, msg: str) -> None:
            self._disarm()
            self.transport.write(_error_bytes(400, "Bad Request", msg, "invalid_http"))
            self.transport.close()

    return TimedH11Protocol
