"""What a reproduction runs: the parameter grids of E1-E10 in quick and full mode.

Full mode follows the protocol of docs/model.md part D: >= 20 seeds per point, 95 % confidence intervals, the
load axis of docs/model.md C.5, N = 10..100 users, M = 2..8 servers. Quick mode keeps every experiment and
every curve but uses fewer seeds, fewer grid values and a shorter simulated horizon, so that it finishes
in a few minutes on a 2-core machine; its numbers carry wide intervals and are a smoke run, not the
reproduction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from goalit.errors import GoalitInputError
from goalit.limits import MAX_SEEDS_PER_POINT, check_at_most

MODES = ("quick", "full", "tiny")


@dataclass(frozen=True)
class Plan:
    """Grids of every experiment. Rates in requests/s, times in s."""

    mode: str
    seeds: int
    scenario: str = "default"
    # E1-E3: arrival-rate sweep (the "dynamic system loads" of the abstract). Total rates; with the
    # default 50 users they are 0.04-0.4 req/s per user, inside docs/model.md C.5's lambda in [0.05, 1]
    # except the lowest point. The edge saturates around 8-10 req/s (GOALIT then also runs locally).
    rates_per_s: tuple[float, ...] = (2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0)
    horizon_s: float = 300.0  # arrival window D (s); every request is then served to completion
    load_policies: tuple[str, ...] = ("goalit", "ot-gah", "local", "nearest-fp16", "random", "greedy")
    # Epoch lengths tried for every epoch-tuned policy (Traits.epoch_grid_s non-empty: OT-GAH) in
    # E1-E3, and in E8 and E10; None: the policy's own Traits.epoch_grid_s (0.25, 0.5, 1, 2, 4 s).
    epoch_grid_s: tuple[float, ...] | None = None
    epoch_grid_other_s: tuple[float, ...] | None = None
    # E4 convergence, E5 updates vs N, E6 runtime vs N, E7 PoA
    convergence_users: tuple[int, ...] = (20, 50, 100)
    scaling_users: tuple[int, ...] = (10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
    runtime_users: tuple[int, ...] = (10, 20, 40, 60, 80, 100)
    runtime_optimum_max_users: int = 40  # the MILP optimum is timed up to this N
    poa_users: tuple[int, ...] = (2, 4, 6, 8, 10, 12)
    # E8 servers, E9 trade-off, E10 sensitivity (at the reference load)
    reference_rate_per_s: float = 6.0
    server_counts: tuple[int, ...] = (2, 3, 4, 6, 8)
    quality_scales: tuple[float, ...] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 64.0)
    fixed_levels: tuple[str, ...] = ("fp16", "q8_0", "q4_k_m", "q3_k_m", "q2_k")
    bandwidths_hz: tuple[float, ...] = (5e6, 10e6, 20e6, 40e6)
    hardware_mixes: tuple[str, ...] = ("mix", "rtx-4090", "jetson-agx-orin-64gb")
    llms: tuple[str, ...] = ("llama-3-8b", "llama-2-7b")

    @property
    def seed_list(self) -> tuple[int, ...]:
        return tuple(range(self.seeds))


FULL = Plan(mode="full", seeds=20)

QUICK = Plan(
    mode="quick",
    seeds=3,
    rates_per_s=(2.0, 6.0, 10.0),
    horizon_s=60.0,
    epoch_grid_s=(1.0, 2.0),
    epoch_grid_other_s=(1.0,),
    convergence_users=(20, 50, 100),
    scaling_users=(10, 30, 50, 100),
    runtime_users=(10, 50, 100),
    runtime_optimum_max_users=10,
    poa_users=(2, 4, 6),
    server_counts=(2, 4, 8),
    quality_scales=(0.0, 1.0, 4.0, 16.0, 64.0),
    fixed_levels=("fp16", "q8_0", "q4_k_m", "q2_k"),
    bandwidths_hz=(5e6, 20e6),
    hardware_mixes=("mix", "rtx-4090"),
)

# For tests: every experiment, one or two values per axis, seconds of work.
TINY = Plan(
    mode="tiny",
    seeds=2,
    rates_per_s=(2.0, 6.0),
    horizon_s=10.0,
    load_policies=("goalit", "ot-gah", "local"),
    epoch_grid_s=(1.0, 2.0),
    epoch_grid_other_s=(1.0,),
    convergence_users=(10,),
    scaling_users=(6, 12),
    runtime_users=(6,),
    runtime_optimum_max_users=6,
    poa_users=(3,),
    reference_rate_per_s=4.0,
    server_counts=(2,),
    quality_scales=(0.0, 4.0),
    fixed_levels=("q4_k_m",),
    bandwidths_hz=(20e6,),
    hardware_mixes=("mix",),
    llms=("llama-3-8b",),
)

PLANS = {"quick": QUICK, "full": FULL, "tiny": TINY}


def make_plan(mode: str = "full", seeds: int | None = None) -> Plan:
    """The plan of ``mode`` (quick, full, tiny), optionally with another number of seeds."""
    if mode not in PLANS:
        raise GoalitInputError(f"unknown mode {mode!r} (expected one of: {', '.join(PLANS)})")
    plan = PLANS[mode]
    if seeds is not None:
        if seeds < 1:
            raise GoalitInputError(f"--seeds must be >= 1, not {seeds}")
        check_at_most(seeds, MAX_SEEDS_PER_POINT, "--seeds", "seeds per point")
        plan = replace(plan, seeds=int(seeds))
    return plan
