"""Run a gateway with uvicorn on a socket bound here (so port 0 works and the real port is printed)."""

from __future__ import annotations

import socket
import sys

from goalit.errors import GoalitInputError
from goalit.serve.config import GatewayConfig
from goalit.serve.gateway import Gateway


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); a one-line ``GoalitInputError`` if it cannot bind."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # accepted connections inherit it: without it a response written in two pieces waits for the client's
    # delayed ACK (~40 ms per request on Linux)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        raise GoalitInputError(f"cannot listen on {host}:{port} ({err.strerror or err})") from None
    sock.listen(2048)
    return sock


def serve(config: GatewayConfig, policy: str | None = None, log_level: str = "warning") -> None:
    """Serve ``config`` until SIGINT/SIGTERM (uvicorn's graceful shutdown)."""
    import uvicorn

    gw = config.gateway
    sock = bind_socket(gw.host, gw.port)
    host, port = sock.getsockname()[:2]
    gateway = Gateway(config, policy=policy)
    from goalit.serve.slowclient import protocol_class

    uv = uvicorn.Config(gateway.app, log_level=log_level, lifespan="on", timeout_graceful_shutdown=5,
                        access_log=False, http=protocol_class(gw.header_timeout_s))  # fmt: skip
    names = ", ".join(f"{b.name}={b.url}" for b in config.backends)
    sys.stdout.write(f"goalit serve: listening on http://{host}:{port} (policy {gateway.router.policy}; "
                     f"backends {names})\n")  # fmt: skip
    sys.stdout.flush()
    uvicorn.Server(uv).run(sockets=[sock])
