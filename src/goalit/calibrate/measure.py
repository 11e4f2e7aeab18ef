"""Measurements of one GGUF file: perplexity, prefill time and decode step time (docs/real-llm.md 1.5).

Perplexity follows llama.cpp's ``llama-perplexity`` convention: the evaluation text is cut into chunks
of ``n_ctx`` = 512 tokens, the first token of each chunk is replaced by BOS, and only the second half of
each chunk is scored (the logits at positions 256..510 predict tokens 257..511). It is computed from the
logits (``logits_all=True``), never from ``echo`` log-probabilities, which are wrong in 0.3.36.

Latency uses llama.cpp's batch API directly: the prefill time of a ``prompt_tokens``-long prompt
(logits for the last token only), and the decode step time d(n) for ``n`` sequences decoded together
(one token each per step, logits for every sequence, greedy), each step timed with ``perf_counter``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from contextlib import closing
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from goalit.calibrate._llama import llama_cpp
from goalit.calibrate.machine import OtherLoad
from goalit.errors import GoalitInputError

N_CTX = 512  # llama-perplexity default context (docs/real-llm.md 1.5)
TEXT_NAME = "wikitext-2-raw-test.txt"


def default_text_path() -> Path | None:
    """The development copy of WikiText-2 raw test, ``../shared/data/text/`` next to the repository."""
    repo = Path(__file__).resolve().parents[3]  # src/goalit/calibrate/measure.py
    path = repo.parent / "shared" / "data" / "text" / TEXT_NAME
    return path if path.is_file() else None


# ---------------------------------------------------------------------------------------------- text


def eval_tokens(model_path: Path, text_path: Path, n_tokens: int) -> list[int]:
    """The first ``n_tokens`` tokens of the text (tokenized without BOS, as llama-perplexity does).

    Only a prefix of the text, cut at a line break, is tokenized when it suffices (BPE tokens of a
    prefix equal those of the whole text except near the cut). Raises ``GoalitInputError`` if the text
    is unreadable or too short.
    """
    try:
        text = text_path.read_text(encoding="utf-8")
    except OSError as err:
        raise GoalitInputError(
            f"{text_path}: cannot read the evaluation text ({err.strerror or err})"
        ) from None
    except UnicodeDecodeError:
        raise GoalitInputError(f"{text_path}: the evaluation text is not UTF-8") from None
    lc = llama_cpp()
    from llama_cpp._internals import LlamaModel

    params = lc.llama_model_default_params()
    params.vocab_only = True
    with closing(LlamaModel(path_model=str(model_path), params=params, verbose=False)) as m:
        cut = text.rfind("\n", 0, 8 * n_tokens + 4096)
        toks: list[int] = []
        if cut > 0:
            toks = m.tokenize(text[:cut].encode("utf-8"), False, False)
        if len(toks) <= n_tokens + 16:
            toks = m.tokenize(text.encode("utf-8"), False, False)
    if len(toks) < n_tokens:
        raise GoalitInputError(
            f"{text_path}: the text has {len(toks)} tokens, fewer than the {n_tokens} needed; "
            "use fewer --chunks"
        )
    return toks[:n_tokens]


# ---------------------------------------------------------------------------------------- perplexity


@dataclass(frozen=True)
class Perplexity:
    """PPL = exp(mean NLL) over ``tokens`` scored tokens of ``chunks`` chunks; ``stderr`` of PPL."""

    ppl: float
    stderr: float
    nll_mean: float
    tokens: int
    chunks: int


def perplexity(model_path: Path, tokens: list[int], chunks: int, threads: int,
               on_chunk: Callable[[], None] | None = None) -> Perplexity:  # fmt: skip
    """Perplexity on ``chunks`` chunks of ``N_CTX`` tokens of ``tokens`` (llama.cpp convention)."""
    lc = llama_cpp()
    if len(tokens) < chunks * N_CTX:
        raise ValueError(f"need {chunks * N_CTX} tokens, got {len(tokens)}")
    llm = lc.Llama(
        model_path=str(model_path), n_ctx=N_CTX, n_batch=N_CTX, n_ubatch=N_CTX, n_threads=threads,
        n_threads_batch=threads, logits_all=True, verbose=False,
    )  # fmt: skip
    half = N_CTX // 2
    nll: list[np.ndarray] = []
    try:
        bos = llm.token_bos()
        for c in range(chunks):
            chunk = list(tokens[c * N_CTX : (c + 1) * N_CTX])
            chunk[0] = bos
            llm.reset()
            llm.eval(chunk)
            logits = np.asarray(
                llm.scores[half : N_CTX - 1], dtype=np.float64
            )  # predict tokens half+1..N_CTX-1
            target = np.asarray(chunk[half + 1 : N_CTX])
            top = logits.max(axis=1)
            lse = top + np.log(np.exp(logits - top[:, None]).sum(axis=1))
            nll.append(lse - logits[np.arange(target.size), target])
            if on_chunk is not None:
                on_chunk()
    finally:
        llm.close()
    values = np.concatenate(nll)
    mean = float(values.mean())
    sem = float(values.std(ddof=1) / math.sqrt(values.size)) if values.size > 1 else 0.0
    ppl = math.exp(mean)
    return Perplexity(ppl=ppl, stderr=ppl * sem, nll_mean=mean, tokens=int(values.size), chunks=chunks)


# ------------------------------------------------------------------------------------------- latency


@dataclass(frozen=True)
class LatencySettings:
    """What one latency repetition runs (token counts; ``batches`` are decode batch sizes n)."""

    prompt_tokens: int = 128
    prefill_lengths: tuple[int, ...] = (32, 128, 384)
    batches: tuple[int, ...] = (1, 2, 4, 8)
    decode_steps: int = 32
    threads: int = 2

    @property
    def n_ctx(self) -> int:
        """KV cells: per sequence the longest use rounded up to 256 (llama.cpp pads to 256), times n."""
        per_seq = max(self.prompt_tokens + self.decode_steps, *self.prefill_lengths) + 16
        return max(self.batches) * 256 * -(-per_seq // 256)


@dataclass
class LatencySample:
    """Raw timings of one repetition: prefill seconds per prompt length, decode step seconds per batch."""

    prefill_s: dict[int, float]
    decode_step_s: dict[int, list[float]]
    context_tokens: dict[int, float]  # mean total context (all sequences) during the decode steps
    other_load: float = float("nan")  # share of the machine used by other processes meanwhile

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def latency_sample(model_path: Path, prompt: list[int], settings: LatencySettings) -> LatencySample:
    """One repetition of the latency measurement of the model at ``model_path``.

    ``prompt`` supplies the prompt tokens (real text); sequence k of a batch uses a different slice.
    """
    lc = llama_cpp()
    from llama_cpp._internals import LlamaBatch, LlamaContext, LlamaModel

    st = settings
    n_max = max(st.batches)
    need = n_max * st.prompt_tokens
    if len(prompt) < max(need, *st.prefill_lengths):
        raise ValueError(f"need {max(need, *st.prefill_lengths)} prompt tokens, got {len(prompt)}")
    meter = OtherLoad().start()
    mparams = lc.llama_model_default_params()
    cparams = lc.llama_context_default_params()
    cparams.n_ctx = st.n_ctx
    cparams.n_batch = cparams.n_ubatch = max(need, *st.prefill_lengths)
    cparams.n_seq_max = n_max
    cparams.n_threads = cparams.n_threads_batch = st.threads
    cparams.no_perf = True
    with (
        closing(LlamaModel(path_model=str(model_path), params=mparams, verbose=False)) as model,
        closing(LlamaContext(model=model, params=cparams, verbose=False)) as ctx,
        closing(LlamaBatch(n_tokens=cparams.n_batch, embd=0, n_seq_max=n_max, verbose=False)) as batch,
    ):
        n_vocab = model.n_vocab()
        mem = lc.llama_get_memory(ctx.ctx)

        def run(b: LlamaBatch) -> float:
            t0 = time.perf_counter()
            rc = lc.llama_decode(ctx.ctx, b.batch)
            lc.llama_synchronize(ctx.ctx)
            dt = time.perf_counter() - t0
            if rc != 0:
                raise RuntimeError(f"llama_decode failed with code {rc}")
            return dt

        def argmax(i: int) -> int:
            ptr = lc.llama_get_logits_ith(ctx.ctx, i)
            return int(np.ctypeslib.as_array(ptr, shape=(n_vocab,)).argmax())

        # warm-up: fault the memory-mapped weights in and let llama.cpp allocate its buffers
        lc.llama_memory_clear(mem, True)
        batch.reset()
        batch.add_sequence(prompt[:32], 0, False)
        run(batch)

        prefill: dict[int, float] = {}
        for s in st.prefill_lengths:
            lc.llama_memory_clear(mem, True)
            batch.reset()
            batch.add_sequence(prompt[:s], 0, False)
            prefill[s] = run(batch)

        decode: dict[int, list[float]] = {}
        ctx_tokens: dict[int, float] = {}
        p = st.prompt_tokens
        for n in st.batches:
            lc.llama_memory_clear(mem, True)
            batch.reset()
            for k in range(n):
                batch.add_sequence(prompt[k * p : (k + 1) * p], k, False)
            run(batch)
            last = [argmax(b_idx) for b_idx in _last_rows(n, p)]
            steps: list[float] = []
            for t in range(st.decode_steps):
                b = batch.batch
                b.n_tokens = n
                for k in range(n):
                    b.token[k] = last[k]
                    b.pos[k] = p + t
                    b.seq_id[k][0] = k
                    b.n_seq_id[k] = 1
                    b.logits[k] = True
                steps.append(run(batch))
                last = [argmax(k) for k in range(n)]
            decode[n] = steps
            ctx_tokens[n] = n * (p + (st.decode_steps - 1) / 2.0)
    return LatencySample(
        prefill_s=prefill, decode_step_s=decode, context_tokens=ctx_tokens, other_load=meter.stop()
    )


def _last_rows(n: int, p: int) -> list[int]:
    """Batch rows holding each sequence's last prompt token (the rows whose logits were requested)."""
    return [(k + 1) * p - 1 for k in range(n)]


@dataclass(frozen=True)
class Latency:
    """Summary of all repetitions of one level (times in seconds).

    On a shared machine other processes only ever add time, so the estimate of a time is the best
    repetition (docs/real-llm.md 1.5: "best of 3"): ``decode_best_s[n]`` is the smallest per-repetition
    median step time at batch n and ``prefill_best_s[s]`` the smallest prefill time at length s. The
    spread is reported with them: median, 10th and 90th percentile of all pooled decode steps, the
    largest per-repetition median, and the median and largest prefill time, and the load of other
    processes during each repetition.
    """

    repeats: int
    prompt_tokens: int
    decode_best_s: dict[int, float]
    decode_median_s: dict[int, float]
    decode_p10_s: dict[int, float]
    decode_p90_s: dict[int, float]
    decode_worst_s: dict[int, float]
    context_tokens: dict[int, float]
    prefill_best_s: dict[int, float]
    prefill_median_s: dict[int, float]
    prefill_worst_s: dict[int, float]
    other_load: tuple[float, ...]  # per repetition: share of the machine used by other processes

    @property
    def decode_ms_per_token(self) -> float:
        """Single-stream decode time d(1) (ms/token), best repetition."""
        return 1e3 * self.decode_best_s[min(self.decode_best_s)]

    @property
    def prefill_tokens_per_s(self) -> float:
        """Prefill throughput at the reference prompt length (tokens/s), best repetition."""
        s = self.prompt_tokens if self.prompt_tokens in self.prefill_best_s else max(self.prefill_best_s)
        return s / self.prefill_best_s[s]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def summarise(samples: list[LatencySample], prompt_tokens: int) -> Latency:
    """Pool the repetitions of one level."""
    batches = sorted(samples[0].decode_step_s)
    lengths = sorted(samples[0].prefill_s)
    pooled = {n: np.concatenate([s.decode_step_s[n] for s in samples]) for n in batches}
    rep_med = {n: [float(np.median(s.decode_step_s[n])) for s in samples] for n in batches}
    pre = {s: [x.prefill_s[s] for x in samples] for s in lengths}
    return Latency(
        repeats=len(samples),
        prompt_tokens=prompt_tokens,
        decode_best_s={n: min(rep_med[n]) for n in batches},
        decode_median_s={n: float(np.median(pooled[n])) for n in batches},
        decode_p10_s={n: float(np.percentile(pooled[n], 10)) for n in batches},
        decode_p90_s={n: float(np.percentile(pooled[n], 90)) for n in batches},
        decode_worst_s={n: max(rep_med[n]) for n in batches},
        context_tokens={n: samples[0].context_tokens[n] for n in batches},
        prefill_best_s={s: min(pre[s]) for s in lengths},
        prefill_median_s={s: float(np.median(pre[s])) for s in lengths},
        prefill_worst_s={s: max(pre[s]) for s in lengths},
        other_load=tuple(x.other_load for x in samples),
    )
