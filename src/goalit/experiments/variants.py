"""Scenario variants for the experiments, derived from an embedded scenario's TOML and re-validated.

A variant is described by plain JSON keys (part of every point's config, hence of its hash):

* ``scenario``: embedded base scenario (default ``"default"``, docs/model.md C.6).
* ``n_users``, ``users_seed``: redraw the base's ``[users_generate]`` population (same distributions).
* ``n_servers``: M servers on a near-square grid over the users' area, taking the base's server
  templates (hardware + instances) in the interleaved order of ``_TEMPLATE_ORDER`` so that every M
  mixes both hardware types (M = 2: one RTX 4090 and one Jetson AGX Orin).
* ``bandwidth_hz``: every AP's bandwidth W (K_j = W / b0 sub-channels).
* ``hardware``: ``"mix"`` (the base) or one hardware profile for every server (instance layouts kept).
* ``llm``: LLM profile; a shared server drops the levels the profile lacks from its hosted set (q4_k_m
  if none is left); on a partitioned server their share merges into the server's next larger level
  (Llama-2-7B has no q3_k_m level, docs/model.md C.2).
* ``levels``: ``"ladder"`` (the base) or one level: every server then hosts a single instance of that
  level with the whole server (share 1), the "fixed q" ablation of docs/model.md B.11.
* ``w_quality_scale``: multiplies the users' quality weight w_Q (docs/model.md B.7), i.e. the ratio w_Q / w_T.

Building goes through ``parse_scenario``, so every variant is validated like a user's scenario file.
"""

from __future__ import annotations

import copy
import json
import tomllib
from functools import lru_cache
from typing import Any

from goalit.scenario.embedded import embedded_text
from goalit.scenario.generate import grid_positions
from goalit.scenario.model import Scenario
from goalit.scenario.profiles import builtin_profiles
from goalit.scenario.toml_io import parse_scenario

VARIANT_KEYS = (
    "scenario", "n_users", "users_seed", "n_servers", "bandwidth_hz", "hardware", "llm", "levels",
    "w_quality_scale",
)  # fmt: skip
# Base servers in interleaved hardware order (default scenario: 4090-a, orin-a, 4090-b, orin-b).
_TEMPLATE_ORDER = (0, 2, 1, 3)


def variant(config: dict[str, Any]) -> Scenario:
    """The scenario described by the variant keys of ``config`` (other keys are ignored)."""
    keys = {k: config[k] for k in VARIANT_KEYS if k in config}
    return _variant(json.dumps(keys, sort_keys=True))


@lru_cache(maxsize=64)
def _variant(keys_json: str) -> Scenario:
    keys = json.loads(keys_json)
    base = keys.get("scenario", "default")
    doc = tomllib.loads(embedded_text(base))
    doc = variant_document(doc, keys)
    return parse_scenario(doc, origin=f"<variant of {base}: {keys_json}>")


def variant_document(doc: dict[str, Any], keys: dict[str, Any]) -> dict[str, Any]:
    """Apply the variant keys to a parsed scenario TOML document (a modified deep copy)."""
    doc = copy.deepcopy(doc)
    ug = doc.get("users_generate")
    if "n_users" in keys or "users_seed" in keys or "w_quality_scale" in keys:
        if ug is None:
            raise ValueError("variant needs a [users_generate] table in the base scenario")
        if "n_users" in keys:
            ug["count"] = int(keys["n_users"])
        if "users_seed" in keys:
            ug["seed"] = int(keys["users_seed"])
        if "w_quality_scale" in keys:
            w_q = ug.get(
                "w_quality", {"uniform": [0.0, 0.05]}
            )  # the generator's default (scenario/generate.py)
            ug["w_quality"] = _scale_dist(w_q, float(keys["w_quality_scale"]))
    servers = doc["servers"]
    if "n_servers" in keys:
        servers = _servers_on_grid(servers, int(keys["n_servers"]), ug)
    if keys.get("bandwidth_hz") is not None:
        for s in servers:
            s.setdefault("ap", {})["bandwidth_hz"] = float(keys["bandwidth_hz"])
    if keys.get("hardware", "mix") != "mix":
        for s in servers:
            s["hardware"] = str(keys["hardware"])
    if "llm" in keys:
        llms = builtin_profiles().llm
        old = llms[str(doc.get("llm", "llama-3-8b"))].levels
        doc["llm"] = str(keys["llm"])
        levels = llms[doc["llm"]].levels
        for s in servers:
            if "hosts" in s:  # shared server: drop the levels the new LLM lacks (q4_k_m if none is left)
                s["hosts"] = [lv for lv in s["hosts"] if lv in levels] or ["q4_k_m"]
            else:
                s["instances"] = _merge_missing_levels(s["instances"], levels, old)
        if doc.get("local_level") not in levels:
            doc["local_level"] = "q4_k_m"
    if keys.get("levels", "ladder") != "ladder":
        for s in servers:
            if "hosts" in s:
                s["hosts"] = [str(keys["levels"])]
            else:
                s["instances"] = [{"level": str(keys["levels"]), "share": 1.0}]
    doc["servers"] = servers
    return doc


def _scale_dist(dist: Any, k: float) -> Any:
    if isinstance(dist, dict):
        ((kind, args),) = dist.items()
        return {kind: [float(a) * k for a in args]}
    return float(dist) * k


def _servers_on_grid(base: list[dict[str, Any]], m: int, ug: dict[str, Any] | None) -> list[dict[str, Any]]:
    area = tuple(ug.get("area_m", (300.0, 300.0))) if ug else (300.0, 300.0)
    order = [k for k in _TEMPLATE_ORDER if k < len(base)] or list(range(len(base)))
    out = []
    for k, pos in enumerate(grid_positions(m, area)):
        s = copy.deepcopy(base[order[k % len(order)]])
        s["name"] = f"{s['name']}-{k}" if m > len(base) else s["name"]
        s["position_m"] = [float(pos[0]), float(pos[1])]
        out.append(s)
    return out


def _merge_missing_levels(instances: list[dict[str, Any]], levels: dict[str, Any], old: dict[str, Any]):
    """Drop instances of levels the new LLM lacks, adding their share to the server's next larger level.

    "Larger" is by bits per weight in the old profile; with no larger level on the server, the largest
    smaller one takes the share; with no instance left at all, a q4_k_m instance gets it.
    """
    keep = [dict(i) for i in instances if i["level"] in levels]
    for i in instances:
        if i["level"] in levels:
            continue
        if not keep:
            keep.append({"level": "q4_k_m", "share": float(i["share"])})
            continue
        bits = old[i["level"]].bits_per_weight
        larger = [k for k in keep if levels[k["level"]].bits_per_weight > bits]
        if larger:
            target = min(larger, key=lambda k: levels[k["level"]].bits_per_weight)
        else:
            target = max(keep, key=lambda k: levels[k["level"]].bits_per_weight)
        target["share"] = round(float(target["share"]) + float(i["share"]), 12)
    return keep
