"""Metrics of a static profile under Model A (definitions with formulas in docs/metrics.md)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from goalit.game import dynamics
from goalit.game.model import Game


@dataclass(frozen=True)
class ProfileMetrics:
    """Per-user outcomes and aggregates of one profile."""

    costs: np.ndarray  # C_i(a), s
    latency_s: np.ndarray  # end-to-end latency, s
    energy_j: np.ndarray  # device energy, J
    perplexity: np.ndarray  # PPL of the level serving each user
    social_cost: float  # sum_i C_i(a)
    potential: float  # Phi(a)
    max_regret: float  # max_i normalised gain of a unilateral deviation, s/token
    mean_latency_s: float
    p95_latency_s: float
    token_throughput_tps: float  # sum_i o_i / latency_i
    mean_perplexity: float  # token-weighted: sum_i o_i PPL_i / sum_i o_i
    offloaded: int


def profile_metrics(game: Game, a: np.ndarray) -> ProfileMetrics:
    """Evaluate profile ``a``."""
    costs = dynamics.user_costs(game, a)
    lat = dynamics.latencies(game, a)
    ppl = game.ppl_of[a]
    o = game.output_tokens
    return ProfileMetrics(
        costs=costs,
        latency_s=lat,
        energy_j=dynamics.device_energy(game, a),
        perplexity=ppl,
        social_cost=float(costs.sum()),
        potential=dynamics.potential(game, a),
        max_regret=dynamics.max_regret(game, a),
        mean_latency_s=float(lat.mean()),
        p95_latency_s=float(np.percentile(lat, 95)),
        token_throughput_tps=float((o / lat).sum()),
        mean_perplexity=float((o * ppl).sum() / o.sum()),
        offloaded=int((a != 0).sum()),
    )
