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

import numpy as np

from goalit.scenario.model import AccessPoint, GameParams, Radio, Scenario

Candidate = tuple[str, Callable[[], Scenario]]


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
            yield f"radio.{f.name}", lambda f=f: replace(s, radio=replace(s.radio, **{f.name: f.default}))
    for f in fields(GameParams):
        if getattr(s.game, f.name) != f.default:
            yield f"game.{f.name}", lambda f=f: replace(s, game=replace(s.game, **{f.name: f.default}))
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
                yield (
                    f"hardware.{name}.{f.name}",
                    lambda hw2=hw2, name=name: replace(s, hardware={**s.hardware, name: hw2}),
                )
        etas = hw.eta_m
        if any(not 1e-6 < v <= 1 for v in etas.values()):
            yield (
                f"hardware.{name}.eta_m",
                lambda hw=hw, name=name: replace(
                    s, hardware={**s.hardware, name: replace(hw, eta_m={k: 0.8 for k in hw.eta_m})}
                ),
            )
    ap_default = AccessPoint(20e6, 1e6)
    for j, sv in enumerate(s.servers):
        for f in fields(AccessPoint):
            if getattr(sv.ap, f.name) != getattr(ap_default, f.name):
                sv2 = replace(sv, ap=replace(sv.ap, **{f.name: getattr(ap_default, f.name)}))
                yield (
                    f"servers[{j}].ap.{f.name}",
                    lambda j=j, sv2=sv2: replace(s, servers=(*s.servers[:j], sv2, *s.servers[j + 1 :])),
                )
        for k, inst in enumerate(sv.instances):
            if inst.share < 1e-6:
                sv2 = replace(
                    sv, instances=tuple(replace(i, share=0.5) if i is inst else i for i in sv.instances)
                )
                yield (
                    f"servers[{j}].instances[{k}].share",
                    lambda j=j, sv2=sv2: replace(s, servers=(*s.servers[:j], sv2, *s.servers[j + 1 :])),
                )
    from goalit.scenario.generate import USER_DISTRIBUTIONS

    u = s.users
    for name, (kind, args), _bound, integer in USER_DISTRIBUTIONS:
        typical = args[0] if kind == "const" else (args[0] + args[-1]) / 2
        col = getattr(u, name)
        if col[user] != typical:
            new = col.copy()
            new[user] = int(typical) if integer else typical
            yield (
                f"users[{user}].{name}",
                lambda name=name, new=new: replace(s, users=replace(u, **{name: new})),
            )
    for axis in ("x_m", "y_m"):
        col = getattr(u, axis)
        if abs(col[user]) > 1e6:
            new = col.copy()
            new[user] = 0.0
            yield (
                f"users[{user}].position_m",
                lambda axis=axis, new=new: replace(s, users=replace(u, **{axis: new})),
            )


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
