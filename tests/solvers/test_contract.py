"""The algorithm contract: typed options and traits (issue 11)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from goalit.errors import GoalitInputError
from goalit.solvers.contract import Options, Traits, parse_options, traits_of


@dataclass(frozen=True)
class _Opts(Options):
    duration_s: float = 1.0
    grant: str = "parallel"


def test_parse_options_typed():
    assert parse_options("x", _Opts, {"duration_s": 5.0}) == _Opts(duration_s=5.0)


def test_misspelt_option_is_named():
    with pytest.raises(
        GoalitInputError, match=r"x: unknown option\(s\) durationn_s \(did you mean 'duration_s'\?\)"
    ):
        parse_options("x", _Opts, {"durationn_s": 5.0})


def test_traits():
    assert traits_of("ot-gah").static_batching and traits_of("ot-gah").epoch_based
    assert traits_of("goalit") == Traits()
