"""The exception hierarchy: every user-facing input problem is a one-line ``GoalitInputError``."""

__all__ = ["GoalitError", "GoalitInputError", "ScenarioError", "TraceError"]


class GoalitError(Exception):
    """Base class of goalit's own errors."""


class GoalitInputError(GoalitError, ValueError):
    """Bad input (scenario, profile, trace, flag). ``str(err)`` is one line naming the field and the problem.

    The CLI prints it as ``goalit: error: <message>`` and exits with code 2.
    """

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(str(message).split()))


class ScenarioError(GoalitInputError):
    """A scenario or profile file is invalid."""


class TraceError(GoalitInputError):
    """A request trace file is invalid."""
