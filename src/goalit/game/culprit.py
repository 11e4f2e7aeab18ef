"""Which scenario field makes a user's cost overflow: the real culprit, not the user who pays for it.

``check_feasible`` sees the symptom: user i's cost is not finite. The value at fault may be a user
field, but also a ``[radio]`` or ``[game]`` value, an access point, or a hardware profile shared by
everyone. :func:`overflow_culprit` puts each candidate field back to a typical value (the dataclass
default, the built-in profile's value, or the median of the built-in profiles) one at a time, rebuilds
the game and returns the first field whose reset makes the costs finite. Only run on the error path.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterator
from dataclasses import fields, replace
from functools import partial
from typing import Any

import numpy as np

from goalit.scenario.model import AccessPoint, GameParams, Radio, Scenario, Server
from goalit.scenario.profiles import HardwareProfile

Candidate = tuple[str, Callable[[], Scenario]]


# The scenario with one value reset, built when a candidate is tried (``make()``: a reset may raise).
# ``value`` is a dataclass field's default, of that field's type (float, int or None by field): Any.
def _reset_radio(s: Scenario, name: str, value: Any) -> Scenario:
    return replace(s, radio=replace(s.radio, **{name: value}))


def _reset_game(s: Scenario, name: str, value: Any) -> Scenario:
    return replace(s, game=replace(s.game, **{name: value}))


def _with_hardware(s: Scenario, name: str, hw: HardwareProfile) -> Scenario:
    return replace(s, hardware={**s.hardware, name: hw})


def _reset_eta_m(s: Scenario, name: str, hw: HardwareProfile) -> Scenario:
    return replace(s, hardware={**s.hardware, name: replace(hw, eta_m={k: 0.8 for k in hw.eta_m})})


def _with_server(s: Scenario, j: int, sv: Server) -> Scenario:
    return replace(s, servers=(*s.servers[:j], sv, *s.servers[j + 1 :]))


def _with_users_column(s: Scenario, name: str, column: np.ndarray) -> Scenario:
    return replace(s, users=replace(s.users, **{name: column}))


def _finite(scenario: Scenario) -> bool:
    from goalit.game.model import build_game

    try:
        with np.errstate(all="ignore"):
            g = build_game(scenario)
            worst = g.alpha * (g.step_table.max() + g.penalty_s)
        return bool(np.isfinite(worst).all() and not np.isnan(g.beta).any())
    except (ValueError, ArithmeticError):
        return False


def _candidates(s: Scenario, user: int) -> Iterator[Candidate]:
    for f in fields(Radio):
        if getattr(s.radio, f.name) != f.default:
            yield f"radio.{f.name}", partial(_reset_radio, s, f.name, f.default)
    for f in fields(GameParams):
        if getattr(s.game, f.name) != f.default:
            yield f"game.{f.name}", partial(_reset_game, s, f.name, f.default)
    from goalit.scenario.profiles import builtin_profiles

    builtin = builtin_profiles().hardware
    for name, hw in s.hardware.items():
        for f in fields(hw):
            value = getattr(hw, f.name)
            if not isinstance(value, float | int) or isinstance(value, bool):
                continue
            ref = builtin[name] if name in builtin else None
            typical = (
                getattr(ref, f.name)
                if ref
                else statistics.median(getattr(h, f.name) for h in builtin.values())
            )
            if value != typical:
                hw2 = replace(hw, **{f.name: typical})
                yield f"hardware.{name}.{f.name}", partial(_with_hardware, s, name, hw2)
        etas = hw.eta_m
        if any(not 1e-6 < v <= 1 for v in etas.values()):
            yield f"hardware.{name}.eta_m", partial(_reset_eta_m, s, name, hw)
    ap_default = AccessPoint(20e6, 1e6)
    for j, sv in enumerate(s.servers):
        for f in fields(AccessPoint):
            if getattr(sv.ap, f.name) != getattr(ap_default, f.name):
                sv2 = replace(sv, ap=replace(sv.ap, **{f.name: getattr(ap_default, f.name)}))
                yield f"servers[{j}].ap.{f.name}", partial(_with_server, s, j, sv2)
        for k, inst in enumerate(sv.instances):
            if inst.share < 1e-6:
                sv2 = replace(
                    sv, instances=tuple(replace(i, share=0.5) if i is inst else i for i in sv.instances)
                )
                yield f"servers[{j}].instances[{k}].share", partial(_with_server, s, j, sv2)
    from goalit.scenario.generate import USER_DISTRIBUTIONS

    u = s.users
    for name, (kind, args), _bound, integer in USER_DISTRIBUTIONS:
        typical = args[0] if kind == "const" else (args[0] + args[-1]) / 2
        col = getattr(u, name)
        if col[user] != typical:
            new = col.copy()
            new[user] = int(typical) if integer else typical
            yield f"users[{user}].{name}", partial(_with_users_column, s, name, new)
    for axis in ("x_m", "y_m"):
        col = getattr(u, axis)
        if abs(col[user]) > 1e6:
            new = col.copy()
            new[user] = 0.0
            yield f"users[{user}].position_m", partial(_with_users_column, s, axis, new)


def overflow_culprit(scenario: Scenario, user: int) -> str | None:
    """The first field whose reset to a typical value makes every cost finite (None if none does)."""
    for name, make in _candidates(scenario, user):
        try:
            fixed = make()
        except (TypeError, ValueError):
            continue
        if _finite(fixed):
            return name
    return None
