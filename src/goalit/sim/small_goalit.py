"""Shim: the scalar GOALIT moved to :mod:`goalit.game.goalit_scalar` (the engine's fast path).

Kept so that ``goalit.sim.small_goalit.goalit_small`` stays importable with the same signature and
results until the simulator imports the engine directly (the lead removes this module at merge).
"""

from goalit.game.goalit_scalar import (
    MAX_PLAYERS,
    best_responses_small,
    goalit_small,
    isolated_start_small,
)

__all__ = ["MAX_PLAYERS", "best_responses_small", "goalit_small", "isolated_start_small"]
