"""Per-request records of a run: one column per field, written to CSV (and Parquet) atomically.

Columns (times in s from the start of the run, NaN/empty when the event did not happen):

``request, arrival_s, user`` (scenario user the request was drawn from), ``prompt_tokens, output_tokens,
status`` (completed / unfinished / rejected), ``action`` (0 local, r instance, -1 rejected, -2 never
dispatched), ``server, level, perplexity, max_perplexity, deadline_s, dispatch_s, uplink_start_s,
uplink_done_s, admitted_s`` (prefill or batch start), ``first_token_s, last_token_s, done_s``
(response received), ``latency_s, ttft_s, tpot_s, queue_delay_s, tokens_generated, reroutes,
device_energy_j, server_energy_j, met_deadline, met_perplexity``. Formulas: docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import goalit.outputs as outputs

if TYPE_CHECKING:  # pragma: no cover
    from goalit.sim.simulator import Simulation

COLUMNS = (
    "request", "arrival_s", "user", "prompt_tokens", "output_tokens", "status", "action", "server", "level",
    "perplexity", "max_perplexity", "deadline_s", "dispatch_s", "uplink_start_s", "uplink_done_s",
    "admitted_s", "first_token_s", "last_token_s", "done_s", "latency_s", "ttft_s", "tpot_s",
    "queue_delay_s", "tokens_generated", "reroutes", "device_energy_j", "server_energy_j", "met_deadline",
    "met_perplexity",
)  # fmt: skip


def build_records(sim: Simulation, user_index: np.ndarray, server_names: list[str]) -> dict[str, np.ndarray]:
    """The record columns of a finished simulation."""
    from goalit.sim.simulator import COMPLETED, STATUS_NAMES

    g = sim.game
    n = sim.n
    act = sim.action
    decided = act >= 0
    done = sim.status == COMPLETED
    t_end = sim.t_end
    arrival = sim.arrival
    o = sim.output.astype(float)

    latency = np.where(done, sim.done_s - arrival, np.nan)
    ttft = sim.first_token_s - arrival
    with np.errstate(invalid="ignore", divide="ignore"):
        tpot = np.where(o > 1, (sim.last_token_s - sim.first_token_s) / (o - 1), np.nan)
    start = np.where(act == 0, sim.local_start_s, sim.admitted_s)
    queue = start - arrival - sim.tx_s

    # device energy (docs/model.md B.7 extended with waiting): transmit + idle while waiting + local compute
    local = act == 0
    wait_end = np.where(np.isfinite(sim.last_token_s), sim.last_token_s, t_end)
    wait_end = np.where(local, sim.local_start_s, np.where(decided, wait_end, t_end))
    idle_s = np.maximum(wait_end - arrival - sim.tx_s, 0.0)
    local_run = np.where(local, np.minimum(sim.local_s, np.maximum(t_end - sim.local_start_s, 0.0)), 0.0)
    local_run = np.where(local & done, sim.local_s, local_run)
    e_dev = sim.tx_power_w * sim.tx_s + sim.idle_power_w * idle_s + sim.device_power_w * local_run
    e_dev = np.where(act == -1, 0.0, e_dev)

    a_safe = np.maximum(act, 0)
    ppl = np.where(decided, g.ppl_of[a_safe], np.nan)
    srv = g.server_of[a_safe]
    server = np.array(
        ["" if not decided[k] else ("local" if srv[k] < 0 else server_names[srv[k]]) for k in range(n)],
        dtype=object,
    )
    level = np.where(decided, g.level_of[a_safe], "").astype(object)
    users = sim.users
    return {
        "request": np.arange(n, dtype=np.int64),
        "arrival_s": arrival,
        "user": np.asarray(user_index, np.int64),
        "prompt_tokens": sim.prompt,
        "output_tokens": sim.output,
        "status": np.array([STATUS_NAMES[s] for s in sim.status.tolist()], dtype=object),
        "action": act,
        "server": server,
        "level": level,
        "perplexity": ppl,
        "max_perplexity": np.asarray(users.max_perplexity, float),
        "deadline_s": np.asarray(users.deadline_s, float),
        "dispatch_s": sim.dispatch_s,
        "uplink_start_s": sim.uplink_start_s,
        "uplink_done_s": sim.uplink_done_s,
        "admitted_s": np.where(local, sim.local_start_s, sim.admitted_s),
        "first_token_s": sim.first_token_s,
        "last_token_s": sim.last_token_s,
        "done_s": sim.done_s,
        "latency_s": latency,
        "ttft_s": ttft,
        "tpot_s": tpot,
        "queue_delay_s": queue,
        "tokens_generated": sim.generated,
        "reroutes": sim.reroutes,
        "device_energy_j": e_dev,
        "server_energy_j": sim.server_energy_j,
        "met_deadline": done & (latency <= np.asarray(users.deadline_s, float)),
        "met_perplexity": done & (ppl <= np.asarray(users.max_perplexity, float)),
    }


def _cell_formatter(col: np.ndarray) -> Callable[[Any], str]:
    if col.dtype == bool:
        return lambda v: "true" if v else "false"
    if np.issubdtype(col.dtype, np.floating):
        return lambda v: "" if v != v else repr(float(v))
    return str


def to_csv_text(records: dict[str, np.ndarray]) -> str:
    """CSV text (header + one row per request); floats in shortest round-trip form, NaN as empty."""
    cols = [records[c] for c in COLUMNS]
    fmts = [_cell_formatter(c) for c in cols]
    lists = [c.tolist() for c in cols]
    lines = [",".join(COLUMNS)]
    for row in zip(*lists, strict=True):
        lines.append(",".join(f(v) for f, v in zip(fmts, row, strict=True)))
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and a rename."""
    outputs.write_atomic(path, data)


def parquet_bytes(records: dict[str, np.ndarray]) -> bytes | None:
    """The records as Parquet bytes, or None when pyarrow is not installed."""
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ModuleNotFoundError:
        return None
    table = pa.table(
        {c: (records[c].astype(str) if records[c].dtype == object else records[c]) for c in COLUMNS}
    )
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    out: bytes = sink.getvalue().to_pybytes()  # pyarrow ships no stubs (ignore_missing_imports)
    return out
