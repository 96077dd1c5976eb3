"""The `planforge up` command: start, run until Ctrl-C, SIGTERM or a child's exit, stop."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TextIO

from planforge.stack.running import Stack
from planforge.stack.spec import Options, StackError

__all__ = ["run"]

# --- the command ----------------------------------------------------------------------------------------------


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def run(generated: Path, options: Options, out: TextIO | None = None) -> None:
    """`planforge up`: start, run until Ctrl-C or SIGTERM (return) or a child's exit (StackError), stop.

    Raises StackUsageError (exit 2) for bad input and StackError (exit 1) when something failed or exited.
    """
    # Both, explicitly: a process started in the background by a shell script inherits SIGINT as ignored,
    # and Python then installs no KeyboardInterrupt handler of its own.
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with Stack(generated, options, out) as stack:
            child = stack.watch()
            code = child.process.returncode
            tail = f"{child.log}:\n{child.tail()}"
            failure = StackError(f"{child.name} exited with code {code}; the rest was stopped\n{tail}")
        raise failure
    except KeyboardInterrupt:
        return
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
