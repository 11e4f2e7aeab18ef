"""Dynamic-load discrete-event simulator (Model B, docs/model.md B.8): workloads, instances, policies, metrics.

>>> import goalit
>>> res = goalit.simulate("small", policy="goalit", seed=0, rate=0.5, duration_s=20.0)
>>> res.metrics["unfinished"]
0
"""

from goalit.sim.api import simulate
from goalit.sim.metric_catalogue import SIM_METRICS, Metric, SimMetrics
from goalit.sim.policies import Policy, make_policy, policy_names, register_policy
from goalit.sim.result import SimResult
from goalit.sim.view import Background, Decision, View
from goalit.sim.workload import Workload, load_trace, poisson

__all__ = [
    "Background",
    "Decision",
    "Metric",
    "Policy",
    "SIM_METRICS",
    "SimMetrics",
    "SimResult",
    "View",
    "Workload",
    "load_trace",
    "make_policy",
    "poisson",
    "register_policy",
    "policy_names",
    "simulate",
]
