"""The speed check: each server and level alone on idle servers, measured against the profile and the
step table just before the replay (and the level-switch time of serial servers)."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import numpy as np

from goalit.experiments.testbed.options import PROBE_OUTPUT_TOKENS
from goalit.serve.replay import Sent, replay


def speed_check(
    urls: list[str],
    aliases: dict[str, str],
    levels: list[tuple[str, ...]],
    prompt: str,
    prompt_tokens: int,
    llm,
    hw,
    table=None,
    repeats: int = 2,
) -> dict[str, Any]:
    """Each server and level alone, now: measured TTFT and TPOT against the profile's prediction.

    With a step table (``table``), also against the table's: TTFT = prefill(s) (llama.cpp samples the
    first token from the prefill), TPOT = step(1, s + o/2); their ratios, per level, are the speed of
    the machine *now* relative to when the table was measured (``table_scale``), which the testbed uses
    for one more simulation (a prediction made before the replay, from the table and this check only).
    Each measurement is the median of ``repeats`` requests.

    Prediction (docs/model.md B.5, share 1): TTFT = T_pre(s) + d(1, s); TPOT = d(1, s + o/2). The ratio
    measured / predicted tells how far this machine, at this moment, is from its calibrated profile
    (other work on a shared machine slows it down); it is reported, never used to correct anything.
    Also the level-switch time of a serial server: median latency of 1-token requests alternating two
    levels minus that of 1-token requests staying on one (``swap_s``); the gateway is configured with it.
    """
    from goalit.physics.roofline import Roofline

    o = PROBE_OUTPUT_TOKENS
    out: dict[str, Any] = {"prompt_tokens": prompt_tokens, "output_tokens": o, "runs": [], "switch_runs": []}
    for j, (url, lvs) in enumerate(zip(urls, levels, strict=True)):
        for lv in lvs:
            lvp = llm.levels[lv]
            roof = Roofline.single(
                llm.params,
                llm.kv_bytes_per_token,
                lvp.weight_bytes,
                hw.flops_fp16,
                hw.mem_bw_bytes_per_s,
                hw.eta_c,
                hw.eta_m_for(lv),
                hw.step_overhead_s,
            )
            pre = float(roof.prefill_s(prompt_tokens))

            def step(ctx: float, roof=roof) -> float:
                return float(roof.decode_step_s(1, ctx))

            _one_token(url, aliases[lv])  # load this level first: the measured request pays no switch
            body = {
                "model": aliases[lv],
                "prompt": prompt,
                "max_tokens": o,
                "min_tokens": o,
                "ignore_eos": True,
                "temperature": 0.0,
            }
            recs = [asyncio.run(replay(url, [Sent(0.0, body)], timeout_s=120))[0] for _ in range(repeats)]
            ttft = float(np.median([r.ttft_s for r in recs]))
            tpot = float(np.median([(r.done_s - r.first_token_s) / max(1, r.tokens - 1) for r in recs]))
            pred_ttft, pred_tpot = pre + step(prompt_tokens), step(prompt_tokens + o / 2)
            run = {
                "server": f"edge-{j + 1}", "level": lv, "ttft_s": ttft, "predicted_ttft_s": pred_ttft,
                "tpot_s": tpot, "predicted_tpot_s": pred_tpot, "ttft_ratio": ttft / pred_ttft,
                "tpot_ratio": tpot / pred_tpot,
            }  # fmt: skip
            if table is not None and lv in table.levels:
                run["table_ttft_ratio"] = ttft / float(table.prefill_time(lv, prompt_tokens))
                run["table_tpot_ratio"] = tpot / float(table.step_time(lv, 1, prompt_tokens + o / 2))
            out["runs"].append(run)
        if len(lvs) >= 2:  # level switch: 1-token requests alternating levels vs staying on one
            same = [_one_token(url, aliases[lvs[-1]]) for _ in range(3)]
            switch = [_one_token(url, aliases[lvs[k % 2]]) for k in range(4)]
            out["switch_runs"].append(
                {"server": f"edge-{j + 1}", "same_level_s": same, "switching_s": switch}
            )
    out["mean_tpot_ratio"] = float(np.mean([r["tpot_ratio"] for r in out["runs"]]))
    out["mean_ttft_ratio"] = float(np.mean([r["ttft_ratio"] for r in out["runs"]]))
    scale: dict[str, dict[str, float]] = {"decode": {}, "prefill": {}}
    for lv in sorted({r["level"] for r in out["runs"] if "table_tpot_ratio" in r}):
        rs = [r for r in out["runs"] if r["level"] == lv and "table_tpot_ratio" in r]
        scale["decode"][lv] = float(np.median([r["table_tpot_ratio"] for r in rs]))
        scale["prefill"][lv] = float(np.median([r["table_ttft_ratio"] for r in rs]))
    out["table_scale"] = scale
    diffs = [float(np.median(r["switching_s"]) - np.median(r["same_level_s"])) for r in out["switch_runs"]]
    out["swap_s"] = max(0.0, float(np.median(diffs))) if diffs else 0.0
    return out


def _one_token(url: str, alias: str) -> float:
    """Latency of a 1-token completion of ``alias`` (s)."""
    import httpx

    t0 = time.perf_counter()
    body = {"model": alias, "prompt": "Hello", "max_tokens": 1, "temperature": 0.0}
    httpx.post(f"{url}/v1/completions", json=body, timeout=120).raise_for_status()
    return time.perf_counter() - t0


def _probe_body(alias: str, prompt: str, o: int) -> dict[str, Any]:
    return {"model": alias, "prompt": prompt, "max_tokens": o, "min_tokens": o, "ignore_eos": True,
            "temperature": 0.0}  # fmt: skip


def _tpots(urls: list[str], bodies: list[dict[str, Any]]) -> list[float]:
    """Time per output token of one streamed request per server, all sent at once (s)."""

    async def go():
        return await asyncio.gather(
            *(replay(u, [Sent(0.0, b)], timeout_s=120) for u, b in zip(urls, bodies, strict=True))
        )

    recs = [r[0] for r in asyncio.run(go())]
    return [(r.done_s - r.first_token_s) / max(1, r.tokens - 1) for r in recs]


def contention_check(
    urls: list[str], aliases: dict[str, str], levels: list[tuple[str, ...]], prompt: str, repeats: int = 2
) -> dict[str, Any]:
    """What server processes on separate cores still share (the memory bandwidth, the last-level cache):
    each server's time per output token decoding alone, and with every server decoding at the same time
    (median of ``repeats`` each). ``ratio[server]`` = together / alone; 1 means no interference. The
    step table was measured on one process alone, so it does not contain this factor."""
    o = PROBE_OUTPUT_TOKENS
    bodies = [_probe_body(aliases[lvs[0]], prompt, o) for lvs in levels]
    alone = [[_tpots([u], [b])[0] for _ in range(repeats)] for u, b in zip(urls, bodies, strict=True)]
    together = np.array([_tpots(urls, bodies) for _ in range(repeats)])
    out: dict[str, Any] = {"output_tokens": o, "alone_tpot_s": {}, "together_tpot_s": {}, "ratio": {}}
    for j, lvs in enumerate(levels):
        name = f"edge-{j + 1}/{lvs[0]}"
        a, t = float(np.median(alone[j])), float(np.median(together[:, j]))
        out["alone_tpot_s"][name], out["together_tpot_s"][name], out["ratio"][name] = a, t, t / a
    out["mean_ratio"] = float(np.mean(list(out["ratio"].values())))
    return out
