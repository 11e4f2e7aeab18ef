"""Experiments E1-E10 of the reproduction (docs/model.md part D): points, a resumable parallel sweep, plots, report.

Needs the ``experiments`` extra (matplotlib, joblib, dask, distributed); the core never imports this
package. Entry point: ``goalit.experiments.reproduce.reproduce`` (CLI ``goalit reproduce``).
"""

from goalit.experiments.point import Point, config_hash
from goalit.experiments.sweep import SweepSummary, run_sweep

__all__ = ["Point", "SweepSummary", "config_hash", "run_sweep"]
