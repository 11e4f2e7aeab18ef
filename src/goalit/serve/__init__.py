"""Real request routing to LLM servers (optional extra ``serve``; the testbed also needs ``llm``).

- ``goalit serve``: an OpenAI-compatible gateway (``Gateway``) in front of configured backends
  (``load_config``); each request is a player of the offloading game, solved by a registry policy
  (``Router``).
- ``goalit testbed``: real ``llama_cpp.server`` processes + the gateway, a replayed trace slice, and the
  comparison with the simulator.

Design: docs/serve.md. Nothing outside this subpackage imports it.
"""

from goalit.serve.config import BackendConfig, GatewayConfig, load_config, parse_config
from goalit.serve.router import BackendView, Decision, Job, Placed, Router

__all__ = [
    "BackendConfig", "BackendView", "Decision", "GatewayConfig", "Job", "Placed", "Router", "load_config",
    "parse_config",
]  # fmt: skip
