"""The sweep runner: evaluate points in parallel, append each row as it finishes, resume after a crash.

Backends:

* ``local``: joblib worker processes (``jobs`` of them; ``jobs=1`` runs in this process).
* ``dask``: a Dask distributed cluster, either an existing scheduler (``scheduler="tcp://HOST:PORT"``;
  the workers must have the same goalit version installed) or a ``LocalCluster`` of ``jobs`` worker
  processes started for the sweep.

Whatever the backend, the function ``fn(point) -> dict`` runs on a worker and the row is written by
this process only, through ``ResultStore`` (one fsynced line per point). Points whose
``(config_hash, seed)`` is already in the CSV are skipped, so an interrupted sweep started again
computes only what is missing; rows are identical across backends because ``fn`` is a pure function
of the point. A tqdm progress bar with ETA goes to stderr.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from goalit.errors import GoalitInputError
from goalit.experiments.orphan import exit_with_parent
from goalit.experiments.point import Point, canonical_json
from goalit.experiments.store import ResultStore
from goalit.limits import check_at_most, max_jobs

BACKENDS = ("local", "dask")
CONNECT_TIMEOUT = "20s"  # how long to try reaching a Dask scheduler
PointFn = Callable[[Point], dict[str, Any]]


@dataclass(frozen=True)
class SweepSummary:
    """What a sweep did: points planned, found done in the CSV, computed now, and lines repaired."""

    total: int
    skipped: int
    computed: int
    repaired: int
    path: Path


def check_jobs(jobs: int) -> None:
    """``jobs`` worker processes are allowed: 1 <= jobs <= ``goalit.limits.max_jobs()``."""
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise GoalitInputError(f"--jobs must be an integer >= 1, not {jobs!r}")
    check_at_most(jobs, max_jobs(), "--jobs", "worker processes (4 per CPU)")


def evaluate(fn: PointFn, point: Point, parent_pid: int | None = None) -> dict[str, Any]:
    """``fn(point)`` with the identity columns of the row (runs on the worker).

    ``parent_pid``: the sweep's process; a worker on the same machine exits when it is gone (see
    ``goalit.experiments.orphan``), so a killed sweep leaves no worker computing for nobody.
    """
    if parent_pid is not None:
        exit_with_parent(parent_pid)
    row = dict(fn(point))
    row.update(
        experiment=point.experiment,
        policy=point.policy,
        seed=int(point.seed),
        config_hash=point.config_hash,
        config=canonical_json(point.config),
    )
    return row


def run_sweep(
    points: Sequence[Point],
    fn: PointFn,
    path: str | Path,
    columns: Sequence[str],
    *,
    backend: str = "local",
    jobs: int = 1,
    scheduler: str | None = None,
    progress: bool = True,
    desc: str = "sweep",
    cost: Callable[[Point], float] | None = None,
) -> SweepSummary:
    """Evaluate every point not yet in the CSV at ``path``; rows appended as points finish.

    ``columns`` are the metric columns of the CSV (the identity columns come first). Duplicate points
    in ``points`` are evaluated once. When the sweep completes, the rows are sorted into the order
    of ``points`` so that the file does not depend on scheduling. ``cost(point)``, if given, is a
    relative cost estimate: expensive points are started first, so that no worker idles at the end
    while another finishes a long point.
    """
    if backend not in BACKENDS:
        raise GoalitInputError(f"--backend must be one of {', '.join(BACKENDS)}, not {backend!r}")
    check_jobs(jobs)
    unique: dict[tuple[str, int], Point] = {}
    for p in points:
        unique.setdefault(p.key, p)
    with ResultStore(path, columns) as store:
        done = store.open()
        todo = [p for k, p in unique.items() if k not in done]
        if cost is not None:
            todo.sort(key=cost, reverse=True)  # stable: plan order among equal costs
        skipped = len(unique) - len(todo)
        bar = _progress(len(unique), skipped, progress, desc)
        computed = 0
        try:
            if backend == "local":
                results = _run_local(fn, todo, jobs)
            else:
                results = _run_dask(fn, todo, jobs, scheduler)
            for row in results:
                store.append(row)
                computed += 1
                bar.update(1)
        finally:
            bar.close()
        store.sort(list(unique))
        return SweepSummary(len(unique), skipped, computed, store.repaired, Path(path))


def _progress(total: int, initial: int, enabled: bool, desc: str):
    from tqdm import tqdm

    return tqdm(
        total=total, initial=initial, desc=desc, unit="pt", file=sys.stderr, disable=not enabled,
        dynamic_ncols=True, smoothing=0.05,
    )  # fmt: skip


def _run_local(fn: PointFn, todo: list[Point], jobs: int) -> Iterator[dict[str, Any]]:
    if not todo:
        return
    if jobs == 1 or len(todo) == 1:
        for p in todo:
            yield evaluate(fn, p)
        return
    from joblib import Parallel, delayed

    # max_nbytes=None: no memmapped temp folders, which a killed sweep would leave to loky's resource
    # tracker (and its "leaked folder objects" warning); points and rows are small
    par = Parallel(
        n_jobs=jobs, backend="loky", return_as="generator_unordered", batch_size=1, max_nbytes=None
    )
    me = os.getpid()
    # after a kill -9 of this process, loky's resource tracker (a child, our environment) would warn about
    # "leaked folder objects" on the terminal: the folders are removed anyway, the warning is noise
    os.environ.setdefault("PYTHONWARNINGS", "ignore:resource_tracker:UserWarning")
    yield from par(delayed(evaluate)(fn, p, me) for p in todo)


def _run_dask(fn: PointFn, todo: list[Point], jobs: int, scheduler: str | None) -> Iterator[dict[str, Any]]:
    if not todo:
        return
    from distributed import Client, LocalCluster, as_completed

    cluster = None
    if scheduler:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as err:
            raise GoalitInputError(f"--scheduler {scheduler}: cannot connect ({err})") from None
    else:
        cluster = LocalCluster(
            n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None, silence_logs=40
        )
        client = Client(cluster)
    try:
        _check_worker_versions(client)
        parent = None if scheduler else os.getpid()  # a remote cluster outlives us by design
        futures = client.map(evaluate, [fn] * len(todo), todo, [parent] * len(todo),
                             key=[p.task_name for p in todo], pure=False)  # fmt: skip
        for fut in as_completed(futures):
            row = fut.result()
            fut.release()
            yield row
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _goalit_version() -> str:
    from goalit._version import __version__

    return __version__


def _check_worker_versions(client: Any) -> None:
    """Refuse a cluster whose workers run another goalit version (rows would not be comparable)."""
    mine = _goalit_version()
    theirs = client.run(_goalit_version)
    bad = {w: v for w, v in theirs.items() if v != mine}
    if bad:
        w, v = next(iter(bad.items()))
        raise GoalitInputError(
            f"Dask worker {w} runs goalit {v}, this client {mine}; install the same version"
        )
