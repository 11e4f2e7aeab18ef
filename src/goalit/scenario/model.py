"""What the world is (docs/model.md B.3): users, edge servers with their access points and model instances.

Users are stored column-wise (one NumPy array per attribute) so that physics and game code can be
vectorised over users. All quantities are SI: metres, seconds, hertz, watts, bytes; token counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

import numpy as np

from goalit.scenario.profiles import HardwareProfile, LLMProfile


@dataclass(frozen=True)
class AccessPoint:
    """The AP co-located with a server: OFDMA with fixed per-user sub-channels (docs/model.md B.4)."""

    bandwidth_hz: float
    subchannel_hz: float
    tx_power_w: float = 1.0
    coverage_m: float = 1000.0

    @property
    def subchannels(self) -> int:
        """K_j = floor(W_j / b0): the most users that can offload through this AP at once."""
        return int(np.floor(self.bandwidth_hz / self.subchannel_hz + 1e-9))


@dataclass(frozen=True)
class Instance:
    """A model instance (j, q) on a server: a hosted variant of the model at level q.

    On a ``partitioned`` server it owns the fraction ``share`` (theta) of the server's bandwidth, compute
    and memory; on a ``shared`` server ``share`` is 1 (the variant's steps use the whole accelerator,
    time-multiplexed with the other active variants; see docs/model.md).
    """

    level: str
    share: float = 1.0


SHARING_MODES = ("shared", "partitioned")


@dataclass(frozen=True)
class Server:
    """An edge server at ``position_m`` with its AP and hosted variants (model instances).

    ``sharing``: ``"shared"`` (variants co-resident, one engine iterating over the active ones; the
    default of scenario files) or ``"partitioned"`` (fixed shares, the exact potential game of docs/model.md B.8;
    the default here so that code building servers with shares keeps its meaning).
    """

    name: str
    position_m: tuple[float, float]
    hardware: str
    ap: AccessPoint
    instances: tuple[Instance, ...]
    sharing: str = "partitioned"

    @property
    def shared(self) -> bool:
        return self.sharing == "shared"

    @property
    def hosts(self) -> tuple[str, ...]:
        """Levels of the hosted variants."""
        return tuple(i.level for i in self.instances)


USER_FIELDS = (
    "x_m",
    "y_m",
    "prompt_tokens",
    "output_tokens",
    "deadline_s",
    "w_latency",
    "w_quality",
    "w_energy",
    "max_perplexity",
    "tx_power_w",
)


@dataclass(frozen=True, eq=False)
class Users:
    """N users as columns. ``device`` holds hardware-profile names; token counts are integers.

    Weights: ``w_latency`` (1), ``w_quality`` (s per nat of per-token cross-entropy increase),
    ``w_energy`` (s per joule); ``tx_power_w`` is the radiated uplink power p_i (W).
    """

    x_m: np.ndarray
    y_m: np.ndarray
    device: np.ndarray
    prompt_tokens: np.ndarray
    output_tokens: np.ndarray
    deadline_s: np.ndarray
    w_latency: np.ndarray
    w_quality: np.ndarray
    w_energy: np.ndarray
    max_perplexity: np.ndarray
    tx_power_w: np.ndarray

    def __len__(self) -> int:
        return int(self.x_m.shape[0])

    def take(self, index: np.ndarray | list[int] | slice) -> Users:
        """The users at ``index`` (a new table)."""
        return Users(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Users):
            return NotImplemented
        return all(np.array_equal(getattr(self, f.name), getattr(other, f.name)) for f in fields(self))

    @staticmethod
    def concat(parts: list[Users]) -> Users:
        """Stack several user tables."""
        return Users(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Users)})


@dataclass(frozen=True)
class Radio:
    """Radio environment (docs/model.md B.4, C.5)."""

    carrier_ghz: float = 3.5
    noise_psd_dbm_hz: float = -174.0
    noise_figure_db: float = 9.0
    access_overhead_s: float = 0.010
    bs_height_m: float = 10.0
    ue_height_m: float = 1.5


@dataclass(frozen=True)
class GameParams:
    """Parameters of the offloading game (docs/model.md B.7-B.9).

    ``epsilon``: an update is requested only if it lowers the user's normalised cost C_i/alpha_i by more
    than epsilon (seconds per output token). ``capacity_penalty_s``: H, the per-token step time charged
    beyond an instance's KV capacity or an AP's sub-channel count. ``context_tokens``: nominal context
    length l-bar of the decode-step KV reads (None: mean prompt + mean output / 2 of the users).
    ``kv_context_tokens``: tokens reserved per sequence for KV capacity (None: max prompt + max output).
    """

    epsilon: float = 1e-5
    capacity_penalty_s: float = 1e3
    max_slots: int = 100_000
    context_tokens: float | None = None
    kv_context_tokens: float | None = None


@dataclass(frozen=True)
class Scenario:
    """A complete offloading scenario: profiles, servers, users, radio and game parameters."""

    name: str
    llm: LLMProfile
    local_level: str
    hardware: dict[str, HardwareProfile]
    servers: tuple[Server, ...]
    users: Users
    radio: Radio = field(default_factory=Radio)
    game: GameParams = field(default_factory=GameParams)
    description: str = ""

    @property
    def n_users(self) -> int:
        return len(self.users)

    def with_users(self, users: Users) -> Scenario:
        """The same world with another user population."""
        return replace(self, users=users)

    def with_servers(self, servers: tuple[Server, ...]) -> Scenario:
        """The same world with another set of servers."""
        return replace(self, servers=servers)
