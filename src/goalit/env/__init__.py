"""Learning environments of the offloading game (extra ``env``: PettingZoo and Gymnasium).

* :func:`parallel_env` / :class:`OffloadEnv`: the PettingZoo ParallelEnv ``goalit_offload_v0``, static
  episodes (one game, agents = users) or dynamic ones (driven by the simulator, agents = requests);
* :class:`SingleAgentEnv`: one user of a static game as a Gymnasium env, the others fixed;
* :mod:`goalit.env.hedge`: independent Hedge (multiplicative-weights) learners, the no-regret baseline.

``import goalit`` never imports this package; see docs/env.md.
"""

try:
    import gymnasium  # noqa: F401
    import pettingzoo  # noqa: F401
except ModuleNotFoundError as err:  # pragma: no cover - depends on the installed extras
    raise ModuleNotFoundError(
        f"goalit.env needs the 'env' extra ({err.name} is missing): pip install 'goalit[env]'", name=err.name
    ) from None

from goalit.env.hedge import HedgeLearners, HedgeRun, run_hedge, solve_hedge, train_hedge
from goalit.env.offload import ENV_NAME, OffloadEnv, parallel_env
from goalit.env.single import SingleAgentEnv

__all__ = ["ENV_NAME", "HedgeLearners", "HedgeRun", "OffloadEnv", "SingleAgentEnv", "parallel_env", "run_hedge", "solve_hedge",
           "train_hedge"]  # fmt: skip
