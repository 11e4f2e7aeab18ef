"""The ``goalit`` command: one parser, one module per subcommand. The CLI parses, calls the library, prints.

Bad input of any kind (flags, scenario files, traces) ends with one line ``goalit: error: ...`` on
stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import os
import signal
import sys


class Terminated(BaseException):
    """SIGTERM received: unwinds like KeyboardInterrupt (finally blocks run), exit code 143."""


UNWIND_GRACE_S = 10.0  # after a signal, the longest wait for the unwinding before leaving anyway
_as_process = False  # main() runs as the command (not embedded): a stuck unwinding may be cut short
_received: int | None = None  # the signal being handled, if any


def _on_signal(signum: int, frame: object) -> None:
    global _received
    _received = signum
    # A second signal while the first unwinds: leave at once, still in one line.
    signal.signal(signal.SIGINT, _exit_now)
    signal.signal(signal.SIGTERM, _exit_now)
    if _as_process:
        # The exception below can be lost: raised inside a C library's callback (llama.cpp logging via
        # ctypes) it is printed as "ignored" and the command runs on. Then leave after a grace period.
        import threading

        timer = threading.Timer(UNWIND_GRACE_S, _exit_now, args=(signum, None))
        timer.daemon = True
        timer.start()
    if signum == signal.SIGTERM:
        raise Terminated()
    raise KeyboardInterrupt()


def _exit_now(signum: int, frame: object) -> None:
    _say_interrupted(signum)
    os._exit(128 + signum)


def _say_interrupted(signum: int) -> None:
    name = "terminated" if signum == signal.SIGTERM else "interrupted"
    try:
        os.write(2, f"goalit: {name}\n".encode())
    except OSError:
        pass


def install_signal_handlers() -> tuple | None:
    """Ctrl-C and SIGTERM end the command with one line and exit 130 / 143, never a traceback.

    Returns the previous handlers (None when not called from the main thread, which cannot set them).
    """
    try:
        previous = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
        signal.signal(signal.SIGINT, _on_signal)
        signal.signal(signal.SIGTERM, _on_signal)
    except ValueError:  # not the main thread (main() called from a thread): leave them alone
        return None
    return previous


def _as_command() -> bool:
    """Whether this process is the ``goalit`` command (console script or ``python -m goalit``)."""
    arg0 = sys.argv[0] if sys.argv else ""
    return os.path.basename(arg0) == "goalit" or arg0.endswith(os.path.join("goalit", "__main__.py"))


if _as_command():  # as early as possible, before any import: nothing to clean up yet, so leave at once
    signal.signal(signal.SIGINT, _exit_now)
    signal.signal(signal.SIGTERM, _exit_now)

import argparse  # noqa: E402  (after the handlers' definitions: nothing heavy is imported here)
import importlib  # noqa: E402
from collections.abc import Sequence  # noqa: E402

from goalit.errors import GoalitInputError  # noqa: E402

# Subcommand modules, in help order. Each defines ``register(subparsers)``, which adds its parser and
# sets ``func`` (args -> exit code). A module whose optional extra is not installed is skipped.
COMMANDS = (
    "solve", "compare", "scenario", "simulate", "reproduce", "calibrate", "serve", "testbed", "algorithms",
)  # fmt: skip


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line and exit with code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        sys.stderr.write(f"{self.prog}: error: {message}\n")
        raise SystemExit(2)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="goalit",
        description="Game-theoretic offloading of LLM inference in edge computing systems.",
    )
    from goalit._version import __version__

    parser.add_argument("--version", action="version", version=f"goalit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=OneLineParser)
    sub.required = True
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"goalit.cli.{name}")
        except ModuleNotFoundError as err:
            if err.name and err.name.startswith("goalit"):
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``goalit`` console script.

    Exit codes: 0 success, 2 bad input (one line ``goalit: error: ...``), 130 Ctrl-C, 143 SIGTERM
    (one line ``goalit: interrupted`` / ``goalit: terminated``). Signals are handled from the first
    line on, heavy imports included. Run as the command (``argv`` None), a signal arriving after ``main``
    returns exits at once; called with ``argv`` (tests, embedding), the caller's handlers are restored.
    """
    global _as_process, _received
    _as_process = argv is None
    _received = None
    previous = install_signal_handlers()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        return int(args.func(args) or 0)
    except GoalitInputError as err:
        sys.stderr.write(f"goalit: error: {err}\n")
        return 2
    except KeyboardInterrupt:
        _say_interrupted(signal.SIGINT)
        return _interrupted_exit(130, argv)
    except Terminated:
        _say_interrupted(signal.SIGTERM)
        return _interrupted_exit(143, argv)
    except BrokenPipeError:
        _silence_stdout()
        return 0
    except MemoryError:
        sys.stderr.write("goalit: error: out of memory (the input asks for more than this machine has)\n")
        return 2
    except Exception:
        # The interrupt was turned into another exception on its way up (an extension module being
        # imported reports ImportError, a library wraps it): it is still the interrupt.
        if _received is None:
            raise
        _say_interrupted(_received)
        return _interrupted_exit(128 + _received, argv)
    finally:
        if previous is not None:
            late = (_exit_now, _exit_now) if argv is None else previous
            signal.signal(signal.SIGINT, late[0])
            signal.signal(signal.SIGTERM, late[1])


def _interrupted_exit(code: int, argv: Sequence[str] | None) -> int:
    """As the command, leave now with ``code``: an interrupted import can make CPython's finalisation
    re-raise the signal (exit -2 instead of 130). Embedded (``argv`` given), just return it."""
    if argv is not None:
        return code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _silence_stdout() -> None:
    # stdout's reader went away (``goalit ... | head``): drop what is buffered, quietly.
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
