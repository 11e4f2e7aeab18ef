"""Model A with measured step times: a built game's roofline step and prefill replaced by a step table.

``with_step_table(game, users, table)`` returns a copy of ``game`` in which every instance whose level the
table (:class:`goalit.physics.step_table.StepTable`) holds gets

- ``step_table[r, n]`` = the table's decode step at n sequences of the game's nominal context l-bar
  (plus the capacity penalty H beyond the instance's KV capacity, as in :func:`build_game`), and ``potential_table`` = its cumulative sum;
- in ``fixed_latency_s`` / ``fixed_energy_j`` / ``beta``: the table's prefill instead of the roofline's,
  priced with each user's weights (beta = w_T T + w_Q o Q + w_E E, E's prefill part at idle power).

Everything else (radio, local execution, quality, allowed actions) is unchanged. The simulator uses it
when run with a step table so that its policy decides on the same performance model the instances run
(``goalit.sim.simulate(..., step_table=...)``); its decision games on a loaded system price the table's
levels with the table too (``goalit.sim.view.SubgameBuilder``).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

import numpy as np

from goalit.game.model import Game

if TYPE_CHECKING:
    from goalit.physics.step_table import StepTable
    from goalit.scenario.model import Users


def with_step_table(game: Game, users: Users, table: StepTable) -> Game:
    """A copy of ``game`` using ``table`` for the instances of the levels it holds (see module docstring)."""
    ip = game.instances
    step = game.step_table.copy()
    lat = game.fixed_latency_s.copy()
    en = game.fixed_energy_j.copy()
    beta = game.beta.copy()
    loads = np.arange(step.shape[1], dtype=float)
    s = np.asarray(game.prompt_tokens, float)
    w_t = np.asarray(users.w_latency, float)
    w_e = np.asarray(users.w_energy, float)
    idle = np.asarray(game.idle_power_w, float)
    for r in range(1, game.n_actions):
        level = str(game.level_of[r])
        if level not in table.levels:
            continue
        d = np.asarray(table.decode_step_time_s(level, np.maximum(loads, 1), np.maximum(loads, 1) *
                                                ip.context_tokens), float)  # fmt: skip
        over = (loads > game.capacity[r]) & (not (game.shared and game.shared_action[r]))  # shared: group's H
        step[r] = d + np.where(over, game.penalty_s, 0.0)  # H added, not substituted (monotone for any H)
        step[r, 0] = 0.0
        roof = np.asarray(ip.roofline.prefill_s(s, r), float)
        delta = np.asarray(table.prefill_time(level, s), float) - roof
        lat[:, r] += delta
        en[:, r] += idle * delta
        beta[:, r] = np.where(np.isfinite(beta[:, r]), beta[:, r] + w_t * delta + w_e * idle * delta, np.inf)
    return replace(
        game,
        step_table=step,
        potential_table=np.cumsum(step, axis=1),
        fixed_latency_s=lat,
        fixed_energy_j=en,
        beta=beta,
    )
