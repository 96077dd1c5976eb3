"""The `planforge up` command: start, run until Ctrl-C, SIGTERM or a child's exit, stop."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import TextIO

from planforge.stack.running import Stack
from planforge.stack.spec import Options, StackError, StackUsageError

__all__ = ["run"]

# --- the command ----------------------------------------------------------------------------------------------


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run(generated: Path, options: Options, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """`planforge up`: start, run until Ctrl-C, SIGTERM or a child's exit, stop; the exit code (0, 1 or 2)."""
    err = err or sys.stderr
    # Both, explicitly: a process started in the background by a shell script inherits SIGINT as ignored,
    # and Python then installs no KeyboardInterrupt handler of its own.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Stack(generated, options, out) as stack:
            child = stack.watch()
            err.write(f"planforge up: {child.name} exited with code {child.process.returncode}; stopping the rest\n")
            err.write(f"{child.log}:\n{child.tail()}\n")
        return 1
    except KeyboardInterrupt:
        return 0
    except StackUsageError as exc:
        err.write(f"planforge up: {exc}\n")
        return 2
    except StackError as exc:
        err.write(f"planforge up: {exc}\n")
        return 1
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
