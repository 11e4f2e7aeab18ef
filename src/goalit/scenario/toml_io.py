"""Scenario files in TOML: parsing with validation (one-line errors naming the field), and writing.

Top-level keys::

    name, description, llm, local_level, profiles (list of profile files to include)
    [radio]             carrier_ghz, noise_psd_dbm_hz, noise_figure_db, access_overhead_s, ...
    [game]              epsilon, capacity_penalty_s, max_slots, context_tokens, kv_context_tokens
    [hardware.NAME] / [llm.NAME]   inline profiles (same format as goalit/data/profiles/*.toml)
    [[servers]]         name, position_m, hardware, [servers.ap], sharing ("shared" default or
                        "partitioned"), hosts = [levels] (shared) or [[servers.instances]] (level, share)
    [servers_generate]  count, area_m, ap, [[servers_generate.templates]] (hardware, sharing, hosts or
                        instances)
    [[users]]           explicit users (all fields of ``Users``; ``position_m`` = [x, y])
    [users_generate]    count, seed, area_m, device and a distribution per user field
"""

from __future__ import annotations

import tomllib
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

import numpy as np
import tomli_w

from goalit.errors import ScenarioError
from goalit.limits import (
    MAX_GAME_CELLS,
    MAX_SCENARIO_BYTES,
    MAX_SERVERS,
    MAX_SUBCHANNELS,
    MAX_TOKENS,
    MAX_USERS,
)
from goalit.scenario._reader import Table
from goalit.scenario.generate import (
    USER_DISTRIBUTIONS,
    grid_positions,
    parse_user_generator,
)
from goalit.scenario.model import (
    SHARING_MODES,
    AccessPoint,
    GameParams,
    Instance,
    Radio,
    Scenario,
    Server,
    Users,
)
from goalit.scenario.profiles import (
    ProfileCatalogue,
    builtin_profiles,
    load_profile_file,
    parse_catalogue,
)

TOP_KEYS = {
    "name", "description", "llm", "local_level", "profiles", "radio", "game", "hardware",
    "servers", "servers_generate", "users", "users_generate",
}  # fmt: skip


def read_toml(path: str | Path) -> dict[str, Any]:
    """Parse a TOML file, turning I/O and syntax problems into one-line ``ScenarioError``s."""
    p = Path(path)
    try:
        size = p.stat().st_size if p.is_file() else 0
        if size > MAX_SCENARIO_BYTES:
            raise ScenarioError(
                f"{p}: {size} bytes exceed the limit of {MAX_SCENARIO_BYTES} for a scenario file"
            )
        text = p.read_text(encoding="utf-8")
    except IsADirectoryError:
        raise ScenarioError(f"{p}: is a directory, not a scenario file") from None
    except OSError as err:
        raise ScenarioError(f"{p}: cannot read scenario file ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{p}: not a UTF-8 text file") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise ScenarioError(f"{p}: not valid TOML ({err})") from None


def parse_scenario(data: dict[str, Any], origin: str = "", base_dir: Path | None = None) -> Scenario:
    """Build and validate a ``Scenario`` from a parsed TOML document."""
    top = Table(data, "", origin)
    unknown = sorted(set(data) - TOP_KEYS)
    if unknown:  # before anything else: a misspelt key must not surface as a confusing later error
        top.fail("unknown key", unknown[0])
    catalogue = builtin_profiles()
    includes = top.raw("profiles", [])
    if not isinstance(includes, list) or not all(isinstance(p, str) for p in includes):
        top.fail("must be a list of file paths", "profiles")
    for inc in includes:
        path = Path(inc) if base_dir is None or Path(inc).is_absolute() else base_dir / inc
        catalogue = catalogue.merged(load_profile_file(path))
    top.used.add("hardware")
    inline = {k: v for k, v in data.items() if k == "hardware"}
    if isinstance(data.get("llm"), dict):
        inline["llm"] = data["llm"]
    catalogue = catalogue.merged(parse_catalogue(inline, origin))

    llm_value = top.raw("llm", "llama-3-8b")
    if isinstance(llm_value, dict):  # inline LLM profile table(s): use the single one defined
        if len(llm_value) != 1:
            top.fail("an inline llm table must define exactly one profile", "llm")
        llm_name = next(iter(llm_value))
    else:
        llm_name = top.string("llm", "llama-3-8b", choices=catalogue.llm)
    llm = catalogue.llm[llm_name]
    local_level = top.string("local_level", "q4_k_m", choices=llm.levels)

    radio = _parse_radio(top.table("radio", None))
    game = _parse_game(top.table("game", None))

    servers: list[Server] = []
    server_tables = top.tables("servers", [])
    if len(server_tables) > MAX_SERVERS:
        top.fail(f"{len(server_tables)} servers exceed the limit of {MAX_SERVERS}", "servers")
    for st in server_tables:
        servers.append(_parse_server(st, catalogue, set(llm.levels), f"server-{len(servers)}"))
    gen_t = top.table("servers_generate", None)
    if gen_t is not None:
        servers.extend(_generate_servers(gen_t, catalogue, set(llm.levels), start=len(servers)))
    if not servers:
        top.fail("must define at least one server ([[servers]] or [servers_generate])", "servers")
    names = [s.name for s in servers]
    for i, name in enumerate(names):
        if names.index(name) != i:
            top.fail(f"duplicate server name {name!r}", f"servers[{i}].name")

    parts: list[Users] = []
    explicit = top.tables("users", [])
    if len(explicit) > MAX_USERS:
        top.fail(f"{len(explicit)} users exceed the limit of {MAX_USERS}", "users")
    if explicit:
        parts.append(_parse_users(explicit, catalogue))
    ug = top.table("users_generate", None)
    if ug is not None:
        gen = parse_user_generator(ug, set(catalogue.hardware))
        n_actions = 1 + sum(len(s.instances) for s in servers)
        where = "users_generate.count"
        if len(explicit) + gen.count > MAX_USERS:
            top.fail(f"{len(explicit)} listed + {gen.count} generated users exceed the limit of {MAX_USERS}",
                     where)  # fmt: skip
        if (len(explicit) + gen.count) * n_actions > MAX_GAME_CELLS:
            top.fail(f"{len(explicit) + gen.count} users x {n_actions} actions exceed the game's limit of "
                     f"{MAX_GAME_CELLS} cost cells", where)  # fmt: skip
        parts.append(gen.draw())
    if not parts:
        top.fail("must define at least one user ([[users]] or [users_generate])", "users")
    users = Users.concat(parts) if len(parts) > 1 else parts[0]
    n_actions = 1 + sum(len(s.instances) for s in servers)
    if len(users) * n_actions > MAX_GAME_CELLS:
        top.fail(f"{len(users)} users x {n_actions} actions exceed the game's limit of {MAX_GAME_CELLS} "
                 "cost cells", "users")  # fmt: skip

    used_hw = {s.hardware for s in servers} | set(users.device.tolist())
    scenario = Scenario(
        name=top.string("name", "unnamed"),
        description=top.string("description", ""),
        llm=llm,
        local_level=local_level,
        hardware={k: catalogue.hardware[k] for k in sorted(used_hw)},
        servers=tuple(servers),
        users=users,
        radio=radio,
        game=game,
    )
    top.finish()
    check_memory(scenario, origin)
    return scenario


def check_memory(scenario: Scenario, origin: str = "") -> None:
    """A shared server must hold its hosted weights plus the KV cache of at least one sequence of the
    per-sequence reservation ([game] kv_context_tokens, else max prompt + max output of the users)."""
    g, u, m = scenario.game, scenario.users, scenario.llm
    kv_ctx = g.kv_context_tokens or float(u.prompt_tokens.max() + u.output_tokens.max())
    prefix = f"{origin}: " if origin else ""
    for j, sv in enumerate(scenario.servers):
        if not sv.shared:
            continue
        weights = sum(m.levels[lv].weight_bytes for lv in sv.hosts)
        need = weights + m.kv_bytes_per_token * kv_ctx
        mem = scenario.hardware[sv.hardware].memory_bytes
        if need > mem:
            raise ScenarioError(
                f"{prefix}servers[{j}].hosts: server {sv.name!r} needs {need:.0f} bytes (hosted weights "
                f"{weights:.0f} + KV of one {kv_ctx:.0f}-token sequence) but has {mem:.0f}: "
                f"{need - mem:.0f} bytes over"
            )


def _parse_radio(t: Table | None) -> Radio:
    if t is None:
        return Radio()
    d = Radio()
    r = Radio(
        carrier_ghz=float(t.number("carrier_ghz", d.carrier_ghz, gt=0)),
        noise_psd_dbm_hz=float(t.number("noise_psd_dbm_hz", d.noise_psd_dbm_hz)),
        noise_figure_db=float(t.number("noise_figure_db", d.noise_figure_db, ge=0)),
        access_overhead_s=float(t.number("access_overhead_s", d.access_overhead_s, ge=0)),
        bs_height_m=float(t.number("bs_height_m", d.bs_height_m, ge=0)),
        ue_height_m=float(t.number("ue_height_m", d.ue_height_m, ge=0)),
    )
    t.finish()
    return r


def _parse_game(t: Table | None) -> GameParams:
    if t is None:
        return GameParams()
    d = GameParams()
    ctx = t.number("context_tokens", None, ge=1, le=MAX_TOKENS)  # tokens: a sequence holds at least one
    kv = t.number("kv_context_tokens", None, ge=1, le=MAX_TOKENS)
    g = GameParams(
        epsilon=float(t.number("epsilon", d.epsilon, gt=0)),
        capacity_penalty_s=float(t.number("capacity_penalty_s", d.capacity_penalty_s, gt=0)),
        max_slots=int(t.number("max_slots", d.max_slots, gt=0, integer=True)),
        context_tokens=None if ctx is None else float(ctx),
        kv_context_tokens=None if kv is None else float(kv),
    )
    t.finish()
    return g


def _parse_ap(t: Table) -> AccessPoint:
    d = AccessPoint(20e6, 1e6)
    ap = AccessPoint(
        bandwidth_hz=float(t.number("bandwidth_hz", d.bandwidth_hz, gt=0)),
        subchannel_hz=float(t.number("subchannel_hz", d.subchannel_hz, gt=0)),
        tx_power_w=float(t.number("tx_power_w", d.tx_power_w, gt=0)),
        coverage_m=float(t.number("coverage_m", d.coverage_m, gt=0)),
    )
    if not ap.bandwidth_hz / ap.subchannel_hz <= MAX_SUBCHANNELS:
        t.fail(
            f"bandwidth_hz / subchannel_hz exceeds the limit of {MAX_SUBCHANNELS} sub-channels",
            "subchannel_hz",
        )
    if ap.subchannels < 1:
        t.fail("must be <= bandwidth_hz (the AP needs at least one sub-channel)", "subchannel_hz")
    t.finish()
    return ap


def _parse_instances(t: Table, levels: set[str], sharing: str) -> tuple[Instance, ...]:
    """``hosts = [levels]`` (shared servers) or ``instances = [{level, share}]`` (share: partitioned only)."""
    insts = []
    if t.has("hosts"):
        if t.has("instances"):
            t.fail("give either hosts or instances, not both", "hosts")
        raw = t.raw("hosts")
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            t.fail("must be a list of level names", "hosts")
        if sharing == "partitioned":
            t.fail("a partitioned server lists instances with their shares, not hosts", "hosts")
        for k, lv in enumerate(raw):
            if lv not in levels:
                t.fail(f"unknown value {lv!r} (expected one of: {', '.join(sorted(levels))})", f"hosts[{k}]")
            insts.append(Instance(lv, 1.0))
        key = "hosts"
    else:
        for it in t.tables("instances"):
            level = it.string("level", choices=levels)
            if sharing == "shared":
                if it.has("share"):
                    it.fail('only a partitioned server gives shares (set sharing = "partitioned")', "share")
                insts.append(Instance(level, 1.0))
            else:
                insts.append(Instance(level, float(it.number("share", gt=0, le=1))))
            it.finish()
        key = "instances"
    if not insts:
        t.fail("must list at least one model instance", key)
    seen = [i.level for i in insts]
    for k, lv in enumerate(seen):
        if seen.index(lv) != k:
            t.fail(
                f"level {lv!r} is hosted twice", f"{key}[{k}]" if key == "hosts" else f"instances[{k}].level"
            )
    if sharing == "partitioned" and sum(i.share for i in insts) > 1 + 1e-9:
        t.fail("shares of the instances add up to more than 1", "instances")
    return tuple(insts)


def _parse_sharing(t: Table) -> str:
    """``sharing``, default ``"shared"``; a server whose instances give shares and no ``sharing`` key is
    ``"partitioned"`` (files written before sharing modes keep their meaning)."""
    raw = t.data.get("instances")
    legacy = isinstance(raw, list) and any(isinstance(i, dict) and "share" in i for i in raw)
    out: str = t.string("sharing", "partitioned" if legacy else "shared", choices=SHARING_MODES)
    return out


def _parse_server(t: Table, cat: ProfileCatalogue, levels: set[str], default_name: str) -> Server:
    ap_t = t.table("ap", None)
    sharing = _parse_sharing(t)
    s = Server(
        name=t.string("name", default_name),
        position_m=t.point("position_m"),
        hardware=t.string("hardware", choices=cat.hardware),
        ap=_parse_ap(ap_t) if ap_t is not None else AccessPoint(20e6, 1e6),
        instances=_parse_instances(t, levels, sharing),
        sharing=sharing,
    )
    t.finish()
    return s


def _generate_servers(t: Table, cat: ProfileCatalogue, levels: set[str], start: int) -> list[Server]:
    count = int(t.number("count", gt=0, le=MAX_SERVERS - start, integer=True))
    area = t.point("area_m", (300.0, 300.0))
    if min(area) <= 0:
        t.fail("must be > 0 in both dimensions", "area_m")
    ap_t = t.table("ap", None)
    ap = _parse_ap(ap_t) if ap_t is not None else AccessPoint(20e6, 1e6)
    templates = []
    for tt in t.tables("templates"):
        sharing = _parse_sharing(tt)
        templates.append((tt.string("hardware", choices=cat.hardware), _parse_instances(tt, levels, sharing),
                          sharing))  # fmt: skip
        tt.finish()
    if not templates:
        t.fail("must list at least one template", "templates")
    t.finish()
    out = []
    for k, pos in enumerate(grid_positions(count, area)):
        hw, insts, sharing = templates[k % len(templates)]
        out.append(Server(f"server-{start + k}", pos, hw, ap, insts, sharing))
    return out


def _parse_users(tables: list[Table], cat: ProfileCatalogue) -> Users:
    cols: dict[str, list[Any]] = {f.name: [] for f in fields(Users)}
    for t in tables:
        x, y = t.point("position_m")
        cols["x_m"].append(x)
        cols["y_m"].append(y)
        cols["device"].append(t.string("device", "snapdragon-8-gen-3", choices=cat.hardware))
        for name, dist, bound, integer in USER_DISTRIBUTIONS:
            kw: dict[str, Any] = {"gt": 0} if bound == "gt0" else {"ge": 0}
            default = dist[1][0] if dist[0] == "const" else _MISSING_DEFAULT
            value = (
                t.number(name, **kw, integer=integer)
                if default is _MISSING_DEFAULT
                else t.number(name, default, **kw, integer=integer)
            )
            cols[name].append(value)
        t.finish()
    out = {}
    for name, values in cols.items():
        if name == "device":
            out[name] = np.array(values, dtype=object)
        elif name in ("prompt_tokens", "output_tokens"):
            out[name] = np.array(values, dtype=np.int64)
        else:
            out[name] = np.array(values, dtype=float)
    return Users(**out)


_MISSING_DEFAULT = object()


def load_scenario_file(path: str | Path) -> Scenario:
    """Read and validate a scenario TOML file."""
    p = Path(path)
    return parse_scenario(read_toml(p), origin=str(p), base_dir=p.parent)


def scenario_to_dict(s: Scenario) -> dict[str, Any]:
    """A TOML-ready document that ``parse_scenario`` turns back into an equal scenario.

    Users are written explicitly; profiles that are not built in (or differ from the built-in ones)
    are written inline.
    """
    builtin = builtin_profiles()
    doc: dict[str, Any] = {"name": s.name}
    if s.description:
        doc["description"] = s.description
    doc["local_level"] = s.local_level
    doc["radio"] = asdict(s.radio)
    doc["game"] = {k: v for k, v in asdict(s.game).items() if v is not None}
    hw_inline = {n: _hardware_to_dict(h) for n, h in s.hardware.items() if builtin.hardware.get(n) != h}
    if hw_inline:
        doc["hardware"] = hw_inline
    if builtin.llm.get(s.llm.name) != s.llm:
        doc["llm"] = {s.llm.name: _llm_to_dict(s.llm)}
    else:
        doc["llm"] = s.llm.name
    doc["servers"] = [
        {
            "name": sv.name,
            "position_m": list(sv.position_m),
            "hardware": sv.hardware,
            "ap": asdict(sv.ap),
            "sharing": sv.sharing,
            **({"hosts": list(sv.hosts)} if sv.shared else {"instances": [asdict(i) for i in sv.instances]}),
        }
        for sv in s.servers
    ]
    u = s.users
    users = []
    for i in range(len(u)):
        row: dict[str, Any] = {"position_m": [float(u.x_m[i]), float(u.y_m[i])], "device": str(u.device[i])}
        for name, _d, _b, integer in USER_DISTRIBUTIONS:
            v = getattr(u, name)[i]
            row[name] = int(v) if integer else float(v)
        users.append(row)
    doc["users"] = users
    return doc


def _hardware_to_dict(h: Any) -> dict[str, Any]:
    d = {k: v for k, v in asdict(h).items() if k != "name"}
    return {k: v for k, v in d.items() if v != "" and v != {}}


def _llm_to_dict(m: Any) -> dict[str, Any]:
    d = {k: v for k, v in asdict(m).items() if k != "name"}
    d["levels"] = {n: {k: v for k, v in lv.items() if k != "name"} for n, lv in d["levels"].items()}
    return {k: v for k, v in d.items() if v != "" and v != {}}


def dump_scenario(s: Scenario) -> str:
    """The scenario as TOML text."""
    return tomli_w.dumps(scenario_to_dict(s))
