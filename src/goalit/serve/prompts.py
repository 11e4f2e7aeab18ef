"""Prompts of exact token lengths for a replayed trace, cut from a real text with the model's tokenizer.

A trace gives token counts only; the testbed needs real text of those lengths. Prompt k is a window of
the WikiText-2 test tokens starting at a seeded offset, decoded to text; since decoding then encoding
can merge tokens at the edges, the window is adjusted until the text encodes to the target length
(or the closest length reached), and the length actually sent is returned with the text.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path

import numpy as np

from goalit.errors import GoalitInputError


class Tokenizer:
    """The GGUF model's tokenizer (llama.cpp, vocabulary only: no weights are loaded)."""

    def __init__(self, model_path: Path) -> None:
        from llama_cpp._internals import LlamaModel

        from goalit.calibrate._llama import llama_cpp

        params = llama_cpp().llama_model_default_params()
        params.vocab_only = True
        self._model = LlamaModel(path_model=str(model_path), params=params, verbose=False)

    def encode(self, text: str) -> list[int]:
        """Tokens of ``text`` as llama_cpp.server tokenizes a prompt (no BOS for SmolLM2, specials parsed)."""
        return self._model.tokenize(text.encode("utf-8"), add_bos=self._model.add_bos_token(), special=True)

    def decode(self, tokens: list[int]) -> str:
        return self._model.detokenize(tokens, special=False).decode("utf-8", errors="ignore")

    def close(self) -> None:
        self._model.close()


def corpus_tokens(tok: Tokenizer, text_path: Path, max_chars: int = 400_000) -> np.ndarray:
    """Tokens of the first ``max_chars`` characters of the text (cut at a line break)."""
    try:
        text = text_path.read_text(encoding="utf-8")[:max_chars]
    except OSError as err:
        raise GoalitInputError(f"{text_path}: cannot read the prompt text ({err.strerror or err})") from None
    except UnicodeDecodeError:
        raise GoalitInputError(f"{text_path}: the prompt text is not UTF-8") from None
    text = text[: text.rfind("\n") + 1] or text
    toks = np.asarray(tok.encode(text), dtype=np.int64)
    if toks.size < 1024:
        raise GoalitInputError(f"{text_path}: too short for prompts ({toks.size} tokens)")
    return toks


def build_prompts(
    model_path: Path, text_path: Path, lengths: np.ndarray, rng: np.random.Generator, tries: int = 6
) -> tuple[list[str], np.ndarray]:
    """One prompt per target length (tokens); returns (texts, actual token counts)."""
    with closing(Tokenizer(model_path)) as tok:
        corpus = corpus_tokens(tok, text_path)
        texts: list[str] = []
        actual = np.zeros(len(lengths), dtype=np.int64)
        for k, target in enumerate(np.asarray(lengths, dtype=np.int64).tolist()):
            if target > corpus.size // 2:
                raise GoalitInputError(f"prompt of {target} tokens is longer than half of the text")
            start = int(rng.integers(0, corpus.size - 2 * target))
            width = target
            best = None
            for _ in range(tries):
                text = tok.decode(corpus[start : start + width].tolist())
                n = len(tok.encode(text))
                if best is None or abs(n - target) < abs(best[1] - target):
                    best = (text, n)
                if n == target:
                    break
                width = max(1, width + (target - n))
            if best is None:
                raise ValueError(f"tries must be at least 1, not {tries}")
            texts.append(best[0])
            actual[k] = best[1]
    return texts, actual
