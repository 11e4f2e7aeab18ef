"""Where the testbed's server processes run on this machine, and how the simulator and the gateway see them.

Host models (``TestbedOptions.host_model``):

Placement: with ``threads x servers <= CPUs`` each server process is pinned to its own ``threads``
logical CPUs (``sched_setaffinity``, ``server_cpus``), else not pinned. Pinned processes still share the
rest of the host: the last-level cache, the memory bandwidth, and the cores' time with every other
process on the machine. The speed check measures the first two (each server decoding alone vs all
decoding at once, ``contention``); the step table (one process alone) includes none of them.

- ``partitioned`` (default for pinned processes, measured best on a quiet machine: ``host_model``):
  every llama-server process is a server of its own (share 1): the processes decode in parallel, each
  at the step table's speed.
- ``shared`` (default for llama-server processes that are not pinned, ``host_model``): ONE shared server
  (docs/model.md) hosting one variant per process, whose engine iterates over the processes' batches
  (their steps and prefills add up): the processes time-multiplex the host.
"""

from __future__ import annotations

import os
from pathlib import Path

from goalit.errors import GoalitInputError
from goalit.experiments.testbed.options import TestbedOptions


def server_threads(opts: TestbedOptions) -> int:
    """llama.cpp threads per server: as asked, else the logical CPUs shared out (at least 1).

    Oversubscribing the cores is ruinous for llama.cpp, whose threads spin at barriers between layers:
    on this shared 2-vCPU machine, 2 servers x 2 threads decoded at 1.23 s/token against 0.071 s/token
    with 1 thread each, in back-to-back 12-request runs under the same background load.
    """
    return opts.threads or max(1, (os.cpu_count() or 1) // opts.servers)


def step_table_path(opts: TestbedOptions) -> Path | None:
    """The profile file whose [meta.step_table] the gateway and the simulator use, if any (by default the
    committed calibrated profile's, for the llama-server engine it was measured on)."""
    from importlib.resources import files

    if not opts.use_step_table:
        return None
    if opts.step_table is not None:
        return Path(opts.step_table)
    if opts.engine != "llama-server":  # the committed table was measured on llama-server
        return None
    p = Path(str(files("goalit") / "data" / "profiles" / "calibrated.toml"))
    from goalit.physics.step_table import StepTable

    try:
        StepTable.load(p)
    except GoalitInputError:
        return None
    return p


def server_levels(opts: TestbedOptions) -> list[tuple[str, ...]]:
    """The levels each edge server serves: all of them (llama_cpp.server), or ``levels[j % L]``
    (llama-server: one model per process)."""
    if opts.engine == "llama-server":
        return [(opts.levels[j % len(opts.levels)],) for j in range(opts.servers)]
    return [tuple(opts.levels)] * opts.servers


def available_cpus() -> list[int]:
    """The logical CPUs this process may run on (its affinity mask), in order."""
    try:
        return sorted(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return list(range(os.cpu_count() or 1))


def server_cpus(opts: TestbedOptions) -> list[tuple[int, ...] | None]:
    """The logical CPUs each server process is pinned to: disjoint blocks of ``server_threads`` CPUs when
    they all fit (``pin`` and threads x servers <= the CPUs available), else None (not pinned: the
    processes time-multiplex the cores, host model ``shared``)."""
    cpus, t = available_cpus(), server_threads(opts)
    if not opts.pin or t * opts.servers > len(cpus) or not hasattr(os, "sched_setaffinity"):
        return [None] * opts.servers
    return [tuple(cpus[j * t : (j + 1) * t]) for j in range(opts.servers)]


def load_table(opts: TestbedOptions):
    """The step table of the run (``step_table_path``), or None."""
    from goalit.physics.step_table import StepTable

    path = step_table_path(opts)
    return StepTable.load(path) if path is not None else None


def host_model(opts: TestbedOptions) -> str:
    """The host model in effect (see ``TestbedOptions.host_model``): as asked; else, for llama-server,
    ``partitioned`` when the processes are pinned to their own CPUs (``server_cpus``) and ``shared`` when
    they are not (they time-multiplex the cores); ``partitioned`` for llama_cpp.server (serial: one process
    per server, priced alone).

    Measured on a quiet machine (2026-11-30, 08:55-09:01 UTC, other processes 0.1-0.3 % of the 2 CPUs;
    2 pinned llama-server processes x 1 thread, the step table measured quiet; 3 runs per load, same
    decisions, docs/serve.md): partitioned within 15.3 % on all five metrics at 0.5 and 2 req/s, shared
    +102-157 % on mean latency and time per output token at 2 req/s (decoding together vs alone: 1.00-1.10x,
    so the pinned processes do decode in parallel). Earlier runs under heavy background load (load average
    5-10) had favoured ``shared``: there the cores were time-shared by other work anyway."""
    if opts.host_model is not None:
        return opts.host_model
    if opts.engine != "llama-server":
        return "partitioned"
    return "partitioned" if server_cpus(opts)[0] is not None else "shared"


def sim_max_batch(opts: TestbedOptions) -> int:
    """The simulator's batch cap per engine: a llama-server's slots (times the processes when they form
    one shared server: the simulator caps the host's total, not each process's), 1 for llama_cpp.server."""
    if opts.engine != "llama-server":
        return 1
    return opts.slots * (opts.servers if host_model(opts) == "shared" else 1)


def action_index(opts: TestbedOptions) -> dict[tuple[str, str], int]:
    """The simulator's action of every (backend name, level) of the testbed (1..R, in server order).

    Shared and partitioned scenarios list the instances in the same order (process j, its levels), so
    the indices agree."""
    pairs = [(f"edge-{j + 1}", lv) for j, lvs in enumerate(server_levels(opts)) for lv in lvs]
    return {p: 1 + k for k, p in enumerate(pairs)}
