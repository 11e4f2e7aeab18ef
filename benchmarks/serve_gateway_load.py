"""Load the gateway from a second process on loopback: overhead, requests/s held, losses under a backend kill.

Starts two real llama_cpp.server backends (both levels of the test ladder each) and a ``goalit serve``
gateway, then runs a load client in a *separate process* (this script with ``--client``) for each phase:

1. overhead: closed loop, one request at a time, alternating direct-to-backend and via-gateway requests
   (1 output token, a short prompt), so the gateway's added latency is seen without queueing;
2. throughput: closed loop with C concurrent clients for T seconds (8 output tokens): requests/s held,
   latency percentiles, errors;
3. kill: the same load, and one backend is killed with SIGKILL after a third of the time: every request
   must be answered (ok, or an HTTP error with a reason); "lost" counts requests that got no HTTP
   answer at all (transport error or client timeout).

Bounded: every phase has a request count and a time limit. Prints one JSON object and a summary.
Run: PYTHONPATH=src python benchmarks/serve_gateway_load.py [--seconds 20] [--concurrency 8]
The machine is shared (2 vCPUs): numbers include contention with other work.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests" / "serve"))


# ------------------------------------------------------------------------------------ client process
async def client_overhead(gateway: str, direct: str, alias: str, n: int, limit_s: float) -> dict:
    import httpx

    body = {"prompt": "The capital of France is", "max_tokens": 1, "temperature": 0}
    via, dir_ = [], []
    t_end = time.perf_counter() + limit_s
    async with httpx.AsyncClient(timeout=60) as c:
        for k in range(n):
            if time.perf_counter() > t_end:
                break
            pair = [
                (gateway, via, {**body, "model": "smollm2:q4_0"}),
                (direct, dir_, {**body, "model": alias}),
            ]
            for url, out, b in pair if k % 2 == 0 else pair[::-1]:  # alternate the order: drift cancels
                t0 = time.perf_counter()
                r = await c.post(url + "/v1/completions", json=b)
                if r.status_code == 200:
                    out.append(time.perf_counter() - t0)
    return {"via_gateway_s": via, "direct_s": dir_}


async def client_closed_loop(
    gateway: str, concurrency: int, seconds: float, max_tokens: int, kill_pid: int, kill_at_s: float
) -> dict:
    import httpx

    stats = {
        "sent": 0,
        "ok": 0,
        "http_error": 0,
        "partial": 0,
        "lost": 0,
        "statuses": {},
        "latency_s": [],
        "rerouted": 0,
        "errors": [],
    }
    t0 = time.perf_counter()
    stop = t0 + seconds

    async def worker(w: int, c: httpx.AsyncClient) -> None:
        k = 0
        while time.perf_counter() < stop:
            k += 1
            stream = (w + k) % 2 == 1
            body = {
                "prompt": f"Worker {w} request {k}: tell me about",
                "max_tokens": max_tokens,
                "temperature": 0,
                "stream": stream,
            }
            stats["sent"] += 1
            t1 = time.perf_counter()
            try:
                r = await c.post(gateway + "/v1/completions", json=body)
            except Exception as err:  # no HTTP answer at all: the request is lost
                stats["lost"] += 1
                stats["errors"].append(f"{type(err).__name__}: {err}"[:200])
                continue
            stats["statuses"][str(r.status_code)] = stats["statuses"].get(str(r.status_code), 0) + 1
            if int(r.headers.get("x-goalit-retries", "0")) > 0:
                stats["rerouted"] += 1
            if r.status_code != 200:
                stats["http_error"] += 1
            elif stream and not r.text.rstrip().endswith("data: [DONE]"):
                stats["partial"] += 1
            else:
                stats["ok"] += 1
                stats["latency_s"].append(time.perf_counter() - t1)

    async def killer() -> None:
        if kill_pid <= 0:
            return
        await asyncio.sleep(kill_at_s)
        os.kill(kill_pid, signal.SIGKILL)
        stats["killed_at_s"] = time.perf_counter() - t0

    async with httpx.AsyncClient(
        timeout=httpx.Timeout(120.0), limits=httpx.Limits(max_connections=None)
    ) as c:
        await asyncio.gather(killer(), *(worker(w, c) for w in range(concurrency)))
    stats["wall_s"] = time.perf_counter() - t0
    return stats


def client_main(args: argparse.Namespace) -> None:
    if args.client == "overhead":
        out = asyncio.run(client_overhead(args.gateway, args.direct, args.alias, args.n, args.seconds))
    else:
        out = asyncio.run(
            client_closed_loop(
                args.gateway, args.concurrency, args.seconds, args.max_tokens, args.kill_pid, args.kill_at
            )
        )
    json.dump(out, sys.stdout)


def run_client(*argv: str, timeout_s: float) -> dict:
    """The load client in a second process; its JSON result."""
    p = subprocess.run(
        [sys.executable, __file__, *argv],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
    )
    if p.returncode != 0:
        raise RuntimeError(p.stderr[-2000:])
    return json.loads(p.stdout)


# ------------------------------------------------------------------------------------- orchestration
def pct(x, q):
    return float(np.percentile(x, q)) if len(x) else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--client", choices=["overhead", "closed"], default=None, help=argparse.SUPPRESS)
    ap.add_argument("--gateway", help=argparse.SUPPRESS)
    ap.add_argument("--direct", help=argparse.SUPPRESS)
    ap.add_argument("--alias", help=argparse.SUPPRESS)
    ap.add_argument("--kill-pid", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--kill-at", type=float, default=0.0, help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, default=60, help="overhead phase: request pairs (default 60)")
    ap.add_argument("--seconds", type=float, default=20.0, help="length of each load phase, s (default 20)")
    ap.add_argument("--concurrency", type=int, default=8, help="closed-loop clients (default 8)")
    ap.add_argument("--max-tokens", type=int, default=8, help="output tokens per request (default 8)")
    ap.add_argument("--threads", type=int, default=1, help="llama.cpp threads per backend (default 1)")
    ap.add_argument("--policy", default="goalit")
    args = ap.parse_args()
    if args.client:
        client_main(args)
        return

    from serve_helpers import ALIASES, LEVELS, start_gateway, write_config

    from goalit.calibrate.ladder import ensure_ladder
    from goalit.serve.llama_server import LlamaServerSpec, start_llama_servers
    from goalit.serve.procs import ProcessGroup, handle_signals, pid_running

    ladder = ensure_ladder(list(LEVELS))
    models = {ALIASES[lv]: ladder[lv] for lv in LEVELS}
    work = Path(tempfile.mkdtemp(prefix="goalit-load-"))
    result: dict = {
        "machine": f"{os.cpu_count()} logical CPUs, shared with other work",
        "load_avg_start": os.getloadavg(),
    }
    with handle_signals(), ProcessGroup(log_dir=work) as group:
        specs = [LlamaServerSpec(n, models, n_ctx=512, n_threads=args.threads) for n in ("edge-a", "edge-b")]
        urls = [u for _, u in start_llama_servers(group, specs, work)]
        cfg = write_config(
            work / "gateway.toml", urls, {"max_queue": 256, "policy": args.policy, "request_timeout_s": 60.0}
        )
        gw = start_gateway(group, cfg)
        import httpx

        def gw_metrics() -> dict:
            return httpx.get(gw + "/metrics?format=json", timeout=10).json()

        # 1. overhead: direct vs via gateway, one request at a time, so every request meets an idle server
        ov = run_client(
            "--client",
            "overhead",
            "--gateway",
            gw,
            "--direct",
            urls[0],
            "--alias",
            ALIASES["q4_0"],
            "--n",
            str(args.n),
            "--seconds",
            str(4 * args.seconds),
            timeout_s=30 * args.seconds,
        )
        m = gw_metrics()
        result["overhead"] = {
            "pairs": min(len(ov["via_gateway_s"]), len(ov["direct_s"])),
            "direct_p50_s": pct(ov["direct_s"], 50),
            "direct_p95_s": pct(ov["direct_s"], 95),
            "via_p50_s": pct(ov["via_gateway_s"], 50),
            "via_p95_s": pct(ov["via_gateway_s"], 95),
            "added_p50_s": pct(ov["via_gateway_s"], 50) - pct(ov["direct_s"], 50),
            "added_p95_s": pct(ov["via_gateway_s"], 95) - pct(ov["direct_s"], 95),
            "gateway_internal_overhead": m["summaries"].get("goalit_overhead_seconds"),
            "gateway_decision": m["summaries"].get("goalit_decision_seconds"),
        }

        # 2. throughput
        th = run_client(
            "--client",
            "closed",
            "--gateway",
            gw,
            "--concurrency",
            str(args.concurrency),
            "--seconds",
            str(args.seconds),
            "--max-tokens",
            str(args.max_tokens),
            timeout_s=20 * args.seconds,
        )
        result["throughput"] = {
            "concurrency": args.concurrency,
            "seconds": th["wall_s"],
            "sent": th["sent"],
            "ok": th["ok"],
            "http_error": th["http_error"],
            "lost": th["lost"],
            "requests_per_s": th["ok"] / th["wall_s"],
            "latency_p50_s": pct(th["latency_s"], 50),
            "latency_p95_s": pct(th["latency_s"], 95),
            "statuses": th["statuses"],
        }
        # 2b. the lightest requests (1 output token), twice the clients: what the gateway + backends hold
        li = run_client(
            "--client",
            "closed",
            "--gateway",
            gw,
            "--concurrency",
            str(2 * args.concurrency),
            "--seconds",
            str(args.seconds),
            "--max-tokens",
            "1",
            timeout_s=20 * args.seconds,
        )
        m2 = gw_metrics()["summaries"]
        result["throughput_1_token"] = {
            "concurrency": 2 * args.concurrency, "seconds": li["wall_s"], "sent": li["sent"], "ok": li["ok"],
            "http_error": li["http_error"], "lost": li["lost"], "requests_per_s": li["ok"] / li["wall_s"],
            "latency_p50_s": pct(li["latency_s"], 50), "latency_p95_s": pct(li["latency_s"], 95),
            "gateway_overhead_p95_s": m2["goalit_overhead_seconds"]["p95"],
            "gateway_decision_p95_s": m2["goalit_decision_seconds"]["p95"],
        }  # fmt: skip
        before = gw_metrics()["counters"]

        # 3. kill edge-a a third of the way in
        a = next(c for c in group.children if c.name == "edge-a")
        kl = run_client(
            "--client",
            "closed",
            "--gateway",
            gw,
            "--concurrency",
            str(args.concurrency),
            "--seconds",
            str(args.seconds),
            "--max-tokens",
            str(args.max_tokens),
            "--kill-pid",
            str(a.pid),
            "--kill-at",
            str(args.seconds / 3),
            timeout_s=20 * args.seconds,
        )
        after = gw_metrics()["counters"]
        acc = after["goalit_requests_accepted_total"] - before["goalit_requests_accepted_total"]
        done = sum(x["value"] for x in after["goalit_requests_completed_total"]) - sum(
            x["value"] for x in before["goalit_requests_completed_total"]
        )
        result["kill"] = {
            "killed_at_s": kl.get("killed_at_s"),
            "sent": kl["sent"],
            "ok": kl["ok"],
            "partial_streams": kl["partial"],
            "http_error": kl["http_error"],
            "lost": kl["lost"],
            "rerouted": kl["rerouted"],
            "statuses": kl["statuses"],
            "requests_per_s": kl["ok"] / kl["wall_s"],
            "gateway_accepted": acc,
            "gateway_completed": done,
            "gateway_in_flight_after": gw_metrics()["gauges"]["goalit_requests_in_flight"],
            "lost_errors": kl["errors"][:5],
        }
        pids = group.pids()
    result["processes_left"] = [p for p in pids if pid_running(p)]
    result["load_avg_end"] = os.getloadavg()
    print(json.dumps(result, indent=2))
    o, t, k = result["overhead"], result["throughput"], result["kill"]
    print(
        f"\ngateway overhead: added p50 {1e3 * o['added_p50_s']:.1f} ms, p95 {1e3 * o['added_p95_s']:.1f} ms "
        f"(direct p95 {1e3 * o['direct_p95_s']:.1f} ms, via p95 {1e3 * o['via_p95_s']:.1f} ms, "
        f"{o['pairs']} pairs); "
        f"internal p95 {1e3 * (o['gateway_internal_overhead'] or {}).get('p95', float('nan')):.2f} ms"
    )
    print(
        f"throughput: {t['requests_per_s']:.2f} req/s held with {t['concurrency']} clients "
        f"(p95 {t['latency_p95_s']:.2f} s, {t['http_error']} errors, {t['lost']} lost)"
    )
    t1 = result["throughput_1_token"]
    print(
        f"1-token requests: {t1['requests_per_s']:.1f} req/s held with {t1['concurrency']} clients "
        f"(p95 {1e3 * t1['latency_p95_s']:.0f} ms; gateway overhead p95 "
        f"{1e3 * t1['gateway_overhead_p95_s']:.1f} ms, "
        f"decision p95 {1e3 * t1['gateway_decision_p95_s']:.1f} ms; {t1['lost']} lost)"
    )
    print(
        f"backend kill: {k['sent']} sent, {k['ok']} ok, {k['partial_streams']} partial streams, "
        f"{k['http_error']} HTTP errors, {k['rerouted']} re-routed, LOST {k['lost']}; "
        f"gateway accepted {k['gateway_accepted']:.0f} = completed {k['gateway_completed']:.0f}"
    )
    print(f"processes left running: {len(result['processes_left'])}")


if __name__ == "__main__":
    main()
