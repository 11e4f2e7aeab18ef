"""Quality (docs/model.md B.6): the per-token cross-entropy increase of a quantization level."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def quality_loss(perplexity: ArrayLike, reference_perplexity: float) -> np.ndarray:
    """Q(q) = ln PPL(q) - ln PPL(ref), in nats per token (0 for the reference level)."""
    out: np.ndarray = np.log(np.asarray(perplexity, dtype=float)) - np.log(reference_perplexity)
    return out
