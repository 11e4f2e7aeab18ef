"""Hardware and LLM profiles (docs/model.md C.1-C.4): dataclasses, loading and the built-in catalogue.

Profiles live in TOML files of the form ``[hardware.NAME]`` / ``[llm.NAME]`` (see
``goalit/data/profiles/*.toml``); every number carries its source in the profile's ``sources`` table.
A scenario file may define or override profiles inline with the same tables, or include profile files.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from goalit.errors import ScenarioError
from goalit.scenario._reader import Table


@dataclass(frozen=True)
class Level:
    """One quantization level of an LLM: ``weight_bytes`` (M_q, bytes) and WikiText-2 ``perplexity``."""

    name: str
    bits_per_weight: float
    weight_bytes: float
    perplexity: float


@dataclass(frozen=True)
class LLMProfile:
    """Architecture constants (docs/model.md B.5): P ``params``, L ``layers``, kappa ``kv_bytes_per_token``."""

    name: str
    params: float
    layers: int
    d_model: int
    n_heads: int
    n_kv_heads: int
    vocab: int
    kv_bytes_per_token: float
    token_bits: int
    levels: dict[str, Level]
    description: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def reference_level(self) -> Level:
        """The highest-precision level: the reference of the quality term Q(q) = ln PPL(q) - ln PPL(ref)."""
        return max(self.levels.values(), key=lambda lv: (lv.bits_per_weight, -lv.perplexity))


@dataclass(frozen=True)
class HardwareProfile:
    """An accelerator or device: memory (bytes), bandwidth (bytes/s), dense FP16 FLOP/s, efficiencies, power (W)."""

    name: str
    memory_bytes: float
    mem_bw_bytes_per_s: float
    flops_fp16: float
    eta_c: float
    step_overhead_s: float
    power_w: float
    eta_m: dict[str, float]
    idle_power_w: float = 0.0
    radio_tx_power_w: float = 0.0
    description: str = ""
    sources: dict[str, str] = field(default_factory=dict)

    def eta_m_for(self, level: str) -> float:
        """Achieved fraction of peak memory bandwidth when decoding at ``level``."""
        return self.eta_m.get(level, self.eta_m["default"])


@dataclass(frozen=True)
class ProfileCatalogue:
    """Named hardware and LLM profiles."""

    hardware: dict[str, HardwareProfile]
    llm: dict[str, LLMProfile]

    def merged(self, other: ProfileCatalogue) -> ProfileCatalogue:
        """Profiles of ``other`` added to (and overriding) those of ``self``."""
        return ProfileCatalogue({**self.hardware, **other.hardware}, {**self.llm, **other.llm})


def _sources(t: Table) -> dict[str, str]:
    src = t.raw("sources", {})
    if not isinstance(src, dict) or not all(isinstance(v, str) for v in src.values()):
        t.fail("must be a table of strings", "sources")
    return dict(src)


def parse_hardware(t: Table, name: str) -> HardwareProfile:
    """Validate one ``[hardware.NAME]`` table."""
    eta_t = t.table("eta_m")
    eta = {k: eta_t.number(k, gt=0, le=1) for k in list(eta_t.data)}
    if "default" not in eta:
        eta_t.fail("missing required key", "default")
    prof = HardwareProfile(
        name=name,
        memory_bytes=float(t.number("memory_bytes", gt=0)),
        mem_bw_bytes_per_s=float(t.number("mem_bw_bytes_per_s", gt=0)),
        flops_fp16=float(t.number("flops_fp16", gt=0)),
        eta_c=float(t.number("eta_c", gt=0, le=1)),
        step_overhead_s=float(t.number("step_overhead_s", ge=0)),
        power_w=float(t.number("power_w", ge=0)),
        eta_m=eta,
        idle_power_w=float(t.number("idle_power_w", 0.0, ge=0)),
        radio_tx_power_w=float(t.number("radio_tx_power_w", 0.0, ge=0)),
        description=t.string("description", ""),
        sources=_sources(t),
    )
    t.finish()
    return prof


def parse_llm(t: Table, name: str) -> LLMProfile:
    """Validate one ``[llm.NAME]`` table."""
    levels_t = t.table("levels")
    levels: dict[str, Level] = {}
    for lname in list(levels_t.data):
        lt = levels_t.table(lname)
        levels[lname] = Level(
            name=lname,
            bits_per_weight=float(lt.number("bits_per_weight", gt=0)),
            weight_bytes=float(lt.number("weight_bytes", gt=0)),
            perplexity=float(lt.number("perplexity", ge=1)),
        )
        lt.finish()
    if not levels:
        levels_t.fail("must define at least one level")
    prof = LLMProfile(
        name=name,
        params=float(t.number("params", gt=0)),
        layers=int(t.number("layers", gt=0, integer=True)),
        d_model=int(t.number("d_model", gt=0, integer=True)),
        n_heads=int(t.number("n_heads", gt=0, integer=True)),
        n_kv_heads=int(t.number("n_kv_heads", gt=0, integer=True)),
        vocab=int(t.number("vocab", gt=0, integer=True)),
        kv_bytes_per_token=float(t.number("kv_bytes_per_token", gt=0)),
        token_bits=int(t.number("token_bits", gt=0, integer=True)),
        levels=levels,
        description=t.string("description", ""),
        sources=_sources(t),
    )
    t.finish()
    return prof


def parse_catalogue(data: dict[str, Any], origin: str) -> ProfileCatalogue:
    """Read the ``hardware`` and ``llm`` tables of a parsed TOML document (other keys are left alone)."""
    top = Table(data, "", origin)
    hw_t = top.table("hardware", None)
    llm_t = top.table("llm", None)
    hardware = {n: parse_hardware(hw_t.table(n), n) for n in list(hw_t.data)} if hw_t else {}
    llm = {n: parse_llm(llm_t.table(n), n) for n in list(llm_t.data)} if llm_t else {}
    return ProfileCatalogue(hardware, llm)


def load_profile_file(path: str | Path) -> ProfileCatalogue:
    """Load a profile file (e.g. one written by ``goalit calibrate``)."""
    p = Path(path)
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except OSError as err:
        raise ScenarioError(f"{p}: cannot read profile file ({err.strerror or err})") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ScenarioError(f"{p}: not valid TOML ({err})") from None
    unknown = sorted(set(data) - {"hardware", "llm", "meta"})
    if unknown:
        raise ScenarioError(f"{p}: {unknown[0]}: unknown key")
    return parse_catalogue(data, str(p))


@cache
def builtin_profiles() -> ProfileCatalogue:
    """The profiles shipped with goalit (``goalit/data/profiles/*.toml``)."""
    cat = ProfileCatalogue({}, {})
    folder = files("goalit") / "data" / "profiles"
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".toml"):
            data = tomllib.loads(entry.read_text(encoding="utf-8"))
            cat = cat.merged(parse_catalogue(data, f"goalit/data/profiles/{entry.name}"))
    return cat
