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
# Seeds of the epoch-tuning runs start here: disjoint from the evaluation seeds 0..seeds-1 (< 1,000), so
# no epoch is chosen on the seeds it is evaluated on.
TUNE_SEED_BASE = 1_000_000
# The four policies of the decomposition (issue 13), in the order of the headline table.
DECOMPOSITION = ("goalit", "ot-gah", "ot-gah-continuous", "goalit-epochs")


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
    # arrival window D (s); every request is then served to completion. 180 s (was 300 s) bounds the full
    # run's cost (issue 13: <= 60 min on 2 cores); the primary metrics (capacity at SLO, steady-state
    # throughput over [0.1 D, D]) do not depend on D, the window throughput (secondary) does.
    horizon_s: float = 180.0
    load_policies: tuple[str, ...] = (
        "goalit", "ot-gah", "ot-gah-continuous", "goalit-epochs", "local", "nearest-fp16", "random", "greedy",
    )  # fmt: skip
    # Epoch-tuned policies (Traits.epoch_grid_s) run every epoch of their grid on ``tuning_seeds`` seeds
    # (TUNE_SEED_BASE + i); each configuration is then evaluated on the evaluation seeds at the epoch
    # chosen on the tuning seeds (analysis.best_epoch). 0: tune on the evaluation seeds (old rule).
    tuning_seeds: int = 2
    # Capacity at SLO (E1c): highest Poisson rate at which >= slo_deadline_share of the requests meet
    # their deadline and the p95 TTFT is <= slo_p95_ttft_s, by geometric bisection on [capacity_min_rps,
    # capacity_max_rps] to a relative tolerance, per policy and seed (common random numbers).
    capacity_policies: tuple[str, ...] = (
        "goalit", "ot-gah", "ot-gah-continuous", "goalit-epochs", "local", "nearest-fp16", "random", "greedy",
    )  # fmt: skip
    capacity_seeds: int = 10
    capacity_horizon_s: float = 60.0
    capacity_min_rps: float = 1.0
    capacity_max_rps: float = 40.0
    capacity_rel_tol: float = 0.05
    # SLO [R]: 90 % of deadlines (docs/model.md C.6 deadlines: 5-30 s) as the issue states; p95 TTFT <= 10 s, a
    # third of the longest deadline and twice the shortest: the first token must come well before it.
    slo_deadline_share: float = 0.9
    slo_p95_ttft_s: float = 10.0
    # Real arrivals (E1-E3 on traces; only with ``reproduce --traces DIR``): each trace's first
    # ``trace_window_s`` seconds, time-scaled so that its mean rate is each of ``trace_rates_per_s``.
    # The trace fixes arrivals and lengths; a seed only draws the users (positions, deadlines, weights),
    # so the trace runs use ``trace_seeds`` of the evaluation seeds and the window D of E1-E3: that keeps
    # the full run within its hour on 2 cores (issue 13; 20 seeds and 300 s cost ~4,600 CPU-s alone).
    trace_rates_per_s: tuple[float, ...] = (4.0, 8.0, 12.0)
    trace_window_s: float = 180.0
    trace_seeds: int = 10
    traces_dir: str | None = None  # set by ``reproduce --traces DIR``; None: the trace runs are skipped
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

    @property
    def tuning_seed_list(self) -> tuple[int, ...]:
        return tuple(TUNE_SEED_BASE + i for i in range(self.tuning_seeds))

    @property
    def capacity_seed_list(self) -> tuple[int, ...]:
        return tuple(range(min(self.capacity_seeds, self.seeds)))

    @property
    def trace_seed_list(self) -> tuple[int, ...]:
        return tuple(range(min(self.trace_seeds, self.seeds)))

    def evaluation_seeds(self, experiment: str) -> tuple[int, ...]:
        """The evaluation seeds of ``experiment`` (capacity and traces use a prefix of ``seed_list``)."""
        if experiment == "capacity":
            return self.capacity_seed_list
        return self.trace_seed_list if experiment == "traces" else self.seed_list


FULL = Plan(mode="full", seeds=20)

QUICK = Plan(
    mode="quick",
    seeds=3,
    rates_per_s=(2.0, 6.0, 10.0),
    horizon_s=60.0,
    epoch_grid_s=(0.5, 1.0, 2.0),
    tuning_seeds=1,
    capacity_seeds=3,
    capacity_horizon_s=30.0,
    capacity_rel_tol=0.1,
    trace_rates_per_s=(6.0,),
    trace_window_s=60.0,
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
    load_policies=("goalit", "ot-gah", "ot-gah-continuous", "goalit-epochs", "local"),
    epoch_grid_s=(1.0, 2.0),
    tuning_seeds=1,
    capacity_policies=("goalit", "ot-gah", "ot-gah-continuous", "goalit-epochs", "local"),
    capacity_seeds=2,
    capacity_horizon_s=10.0,
    capacity_max_rps=16.0,
    capacity_rel_tol=0.25,
    trace_rates_per_s=(4.0,),
    trace_window_s=10.0,
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
