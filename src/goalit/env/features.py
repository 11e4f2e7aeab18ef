"""What an agent observes and what it is scored by, as NumPy (no PettingZoo/Gymnasium here).

Observation of user i under loads (n, m) of a game with R instances and M APs (float32, length
``3 + (R+1) + 4R + M``), in this order:

=========================  =====  ==========================================================
feature                    size   meaning (units)
=========================  =====  ==========================================================
``prompt_tokens``          1      s_i (tokens)
``output_tokens``          1      o_i (tokens)
``alpha``                  1      alpha_i: cost per (s/token) of step time (s per s/token)
``beta``                   R+1    beta_i(r): load-independent cost of each action (s; 0 where
                                  not allowed, see the mask)
``uplink_s``               R      T_up of the prompt to each instance's AP (s, radio)
``downlink_s``             R      T_dl of the answer (s, radio)
``load``                   R      n_r: requests on each instance (the servers' broadcast)
``ap_load``                M      m_j: offloaders on each AP (broadcast)
``step_if_join_s``         R      d_r(n_r + 1): decode step time if one more joins (s/token)
=========================  =====  ==========================================================

The action mask is 1 where beta_i(r) is finite (reachable, within the PPL bound, fits).
"""

from __future__ import annotations

import numpy as np

from goalit.game import dynamics
from goalit.game.model import Game

FEATURES = ("prompt_tokens", "output_tokens", "alpha", "beta", "uplink_s", "downlink_s", "load", "ap_load",
            "step_if_join_s")  # fmt: skip


OBS_HIGH = float(
    np.finfo(np.float32).max
)  # observations are clipped here (a vanishing radio rate: inf delay)


def obs_size(game: Game) -> int:
    r = game.n_actions - 1
    return 3 + (r + 1) + 4 * r + game.n_servers


def feature_slices(game: Game) -> dict[str, slice]:
    """Where each feature sits in the observation vector."""
    r, m = game.n_actions - 1, game.n_servers
    sizes = (1, 1, 1, r + 1, r, r, r, m, r)
    out, at = {}, 0
    for name, size in zip(FEATURES, sizes, strict=True):
        out[name] = slice(at, at + size)
        at += size
    return out


def observe(game: Game, rows: np.ndarray, n: np.ndarray, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(observations (len(rows), D) float32, action masks (len(rows), R+1) int8) of users ``rows``."""
    rows = np.asarray(rows, np.int64)
    inst = np.arange(1, game.n_actions)
    allowed = np.isfinite(game.beta[rows])
    beta = np.where(allowed, game.beta[rows], 0.0)
    k = rows.shape[0]
    shared = np.concatenate([n[1:], m, game.step_time(inst, n[1:] + 1)]).astype(float)
    obs = np.concatenate(
        [
            game.prompt_tokens[rows, None],
            game.output_tokens[rows, None],
            game.alpha[rows, None],
            beta,
            game.uplink_s[rows][:, 1:],
            game.downlink_s[rows][:, 1:],
            np.broadcast_to(shared, (k, shared.shape[0])),
        ],
        axis=1,
    )
    return np.minimum(obs, OBS_HIGH).astype(np.float32), allowed.astype(np.int8)


def scores(game: Game, a: np.ndarray) -> dict[str, np.ndarray]:
    """Per-user costs and regrets of profile ``a``.

    ``cost``: C_i(a) (s); ``action_costs``: (N, R+1) C_i(x, a_-i) for every action x (inf where not
    allowed; full-information feedback for learners); ``best_response``: argmin_x of it; ``regret``:
    C_i(a) - min_x C_i(x, a_-i) >= 0 (s); ``regret_per_token``: regret / alpha_i (s/token, the unit of
    GOALIT's epsilon).
    """
    n, m = dynamics.loads(game, a)
    costs = dynamics.response_costs(game, a, n, m)
    costs = np.where(game.allowed, costs, np.inf)
    rows = np.arange(game.n_users)
    own = costs[rows, a]
    br = np.argmin(costs, axis=1)
    regret = np.maximum(own - costs[rows, br], 0.0)
    return {"cost": own, "action_costs": costs, "best_response": br, "regret": regret,
            "regret_per_token": regret / game.alpha}  # fmt: skip
