"""Drive the discrete-event simulator one decision at a time, through its policy hook only.

:func:`goalit.simulate` calls ``policy.decide(view)`` synchronously from inside its event loop. To
let an environment step it, the simulation runs in a worker thread with a :class:`HookPolicy` whose
``decide`` hands the :class:`~goalit.sim.policies.View` to the environment and blocks until the
environment sends the actions back. Exactly one of the two threads runs at any time (a strict
hand-over through two one-slot queues), so runs are as deterministic as ``simulate`` itself. The
coupling is the public Policy/View/Decision interface and ``simulate``; nothing else of the
simulator is touched.
"""

from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from goalit.rng import stream
from goalit.scenario.model import Scenario
from goalit.sim.api import make_workload, simulate
from goalit.sim.policies import Decision, Policy, View
from goalit.sim.result import SimResult
from goalit.sim.simulator import request_game
from goalit.sim.state import StateView
from goalit.sim.workload import Workload

WORKLOAD_OPTIONS = ("rate", "duration_s", "time_scale", "length_scale", "max_prompt_tokens", "max_output_tokens",
                    "trace_format")  # fmt: skip
RUN_OPTIONS = ("horizon_s", "max_batch", "context_tokens", "kv_context_tokens")


class _Abort(Exception):
    """Raised inside the simulation thread to end a run the environment no longer wants."""


_ABORT = object()


@dataclass
class HookPolicy(Policy):
    """A policy that asks the environment: each decision's view goes out, the actions come back."""

    name: str = "env"
    reroute_queued: bool = False  # a request is an agent once: it acts, then it terminates
    driver: Any = field(default=None, repr=False)

    def decide(self, view: View) -> Decision:
        self._count("decisions")
        return Decision(self.driver._hand_over(view))

    def describe(self) -> dict[str, Any]:
        return super().describe()


class SimulatorDriver:
    """One simulation run per ``start(seed)``, advanced by ``decide(actions)``.

    ``workload``: None (Poisson), a trace path or a Workload; ``epoch_s``: decide every epoch_s
    seconds (default: at each arrival); other options as :func:`goalit.simulate`.
    """

    def __init__(
        self,
        scenario: Scenario,
        workload: Workload | str | Path | None = None,
        epoch_s: float | None = None,
        **options: Any,
    ) -> None:
        from goalit.errors import GoalitInputError

        unknown = set(options) - set(WORKLOAD_OPTIONS) - set(RUN_OPTIONS)
        if unknown:
            raise GoalitInputError(f"unknown option(s) {', '.join(sorted(unknown))} for dynamic episodes")
        self.scenario = scenario
        self.workload = workload
        self.epoch_s = epoch_s
        self.workload_options = {k: options.get(k) for k in WORKLOAD_OPTIONS}
        self.run_options = {k: v for k, v in options.items() if k in RUN_OPTIONS}
        self.template_game = request_game(scenario, scenario.users)  # same actions and APs as every run's
        self._workloads: dict[int, Workload] = {}
        self._thread: threading.Thread | None = None
        self.result: SimResult | None = None
        self.sim: StateView | None = None

    def requests(self, seed: int) -> Workload:
        """The workload of the run of ``seed``: the one ``simulate`` draws (same stream, same options)."""
        if seed not in self._workloads:
            self._workloads = {seed: make_workload(self.scenario, self.workload, stream(seed, "workload"),
                                                   **self.workload_options)}  # fmt: skip
        return self._workloads[seed]

    def n_requests(self, seed: int) -> int:
        return len(self.requests(seed))

    def start(self, seed: int) -> View | None:
        """Start the run of ``seed``; the first decision's view (None if nothing was decided)."""
        self.stop()
        self.result = None
        self._to_env: queue.Queue = queue.Queue(maxsize=1)
        self._to_sim: queue.Queue = queue.Queue(maxsize=1)
        policy = HookPolicy(epoch_s=self.epoch_s, driver=self)
        self._thread = threading.Thread(target=self._run, args=(policy, seed), daemon=True,
                                        name="goalit-env-simulator")  # fmt: skip
        self._thread.start()
        return self._wait()

    def decide(self, actions: np.ndarray) -> View | None:
        """Send the actions of the current view's requests; the next view (None: the run is over)."""
        self._to_sim.put(np.asarray(actions, np.int64))
        return self._wait()

    def stop(self) -> None:
        """End a run in progress (its thread leaves ``simulate`` by an exception) and wait for it."""
        t = self._thread
        if t is not None and t.is_alive():
            self._to_sim.put(_ABORT)
            t.join()
        self._thread = None

    def actions(self) -> np.ndarray:
        """Every request's action so far (-2 undecided, -1 rejected, 0 local, r instance)."""
        return np.asarray(self.sim.action, np.int64).copy() if self.sim is not None else np.zeros(0, np.int64)

    # -- the two sides of the hand-over ----------------------------------------------------------------------
    def _run(self, policy: HookPolicy, seed: int) -> None:
        # simulate draws the same workload as ``requests(seed)``: same stream, same options
        opts = {k: v for k, v in self.workload_options.items() if v is not None}
        try:
            res = simulate(self.scenario, policy=policy, workload=self.workload, seed=seed, **opts,
                           **self.run_options)  # fmt: skip
        except _Abort:
            return
        except BaseException as err:  # noqa: BLE001 - handed to the environment's thread and raised there
            self._to_env.put(("error", err))
            return
        self._to_env.put(("done", res))

    def _hand_over(self, view: View) -> np.ndarray:
        """(simulation thread) publish ``view``, wait for the environment's actions."""
        self.sim = view.state  # read-only request table
        self._to_env.put(("view", view))
        msg = self._to_sim.get()
        if msg is _ABORT:
            raise _Abort
        return msg

    def _wait(self) -> View | None:
        """(environment thread) the next view, or None once the run has finished."""
        kind, payload = self._to_env.get()
        if kind == "view":
            return payload
        assert self._thread is not None  # a run is under way until its last message
        self._thread.join()
        self._thread = None
        if kind == "error":
            raise payload
        self.result = payload
        return None
