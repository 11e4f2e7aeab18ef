"""The testbed experiment (``goalit testbed``): real LLM servers behind the gateway, a replayed trace
slice, and the simulator's view.

1. A bounded slice of a real trace (Azure conv by default) is cut, its times rescaled to a target rate
   and its lengths scaled and clipped to the small model's context; every transform is stated.
2. Prompts of the exact token lengths are cut from WikiText-2 with the model's tokenizer.
3. K LLM server processes and a ``goalit serve`` gateway are started on 127.0.0.1 (each server pinned to
   its own CPUs when they suffice, ``hosts``). Engine
   ``llama-server`` (default): llama.cpp's server with continuous batching over ``slots`` parallel
   sequences; edge server j serves level ``levels[j % L]`` (one model per process). Engine
   ``llama-cpp-python``: ``llama_cpp.server`` processes, each serving every level, one request at a time.
4. The slice is replayed open-loop through the gateway (streaming; ``min_tokens = max_tokens`` so each
   request generates exactly its trace length); TTFT, latency, tokens/s and the perplexity of the level
   used are recorded per request.
5. Every process is stopped by PID (also on errors, Ctrl-C and SIGTERM).
6. The same workload runs in ``goalit.simulate`` on a scenario built from the same profiles (K servers,
   the same instances, ``max_batch`` = the slots of a llama-server or 1 for llama_cpp.server, loopback
   radio, no local model): once with the policy deciding by itself, once replaying the testbed's own decisions
   (which isolates the physics model from the policy's choices). The error of each metric is reported,
   and per request the simulated latency next to the measured one (same decisions); the same-decision
   errors are also computed under the other host model (``hosts``), so every run measures which
   picture of the host predicts better.

The performance model of the gateway and of the simulator is the measured step table of the profile
(``[meta.step_table]``, ``goalit calibrate --step-table``) when it has the levels, else the roofline.
The gateway's own latency predictions (``x-goalit-predicted-latency-s``) are scored against the
measured latencies (median absolute % error).

Modules: ``options`` (options, result, checks), ``hosts`` (threads, pinning, host model), ``plan`` (slice,
prompts, scenario, gateway config), ``speed`` (speed check), ``live`` (the real processes), ``records``
(measured metrics), ``compare`` (simulations and errors), ``run`` (end to end). This package sits above
``serve``, ``calibrate`` and ``sim``; the report's text is formatted by the CLI (``goalit.cli.testbed``).
"""

from goalit.experiments.testbed.options import METRICS, TestbedOptions, TestbedResult

__all__ = ["METRICS", "TestbedOptions", "TestbedResult", "run_testbed"]


def __getattr__(name: str):
    """``run_testbed`` is imported on first use: it needs the serve extra (httpx), the options do not
    (the CLI reads their defaults to build its parser)."""
    if name == "run_testbed":
        from goalit.experiments.testbed.run import run_testbed

        return run_testbed
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
