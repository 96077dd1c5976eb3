"""The error family: every failure planforge reports is one of three kinds, and the kind is the exit code.

  FindingsError  exit 1: the input was read and something is wrong with it or with what it describes: a
                 manifest with errors, stale output, a file a person edited, a service that failed to start
  InputError     exit 2: usage or input: bad arguments, a manifest that cannot be read, output that cannot be
                 written, an optional part of planforge that is not installed
  InternalError  exit 3: a bug in planforge (please report it)

The command line maps a raised error to its exit code by its type (``exit_code``), never by its message.
"""

from __future__ import annotations

from typing import ClassVar, Self

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_USAGE",
    "FindingsError",
    "InputError",
    "InternalError",
    "MissingDependency",
    "MissingExtra",
    "PlanforgeError",
]

EXIT_OK, EXIT_FINDINGS, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class PlanforgeError(Exception):
    """The root of planforge's errors; its message is one line for people ('' when already reported)."""

    exit_code: ClassVar[int] = EXIT_INTERNAL

    def __init__(self, message: str = "") -> None:
        super().__init__(message)
        self.message = message

    def reported(self) -> Self:
        """This error, its report already printed (as diagnostics in the chosen format): no message of its own."""
        self.message = ""
        return self


class FindingsError(PlanforgeError):
    """Exit 1: the input was read and is wrong, or what it describes is (errors, stale output, a failed run)."""

    exit_code = EXIT_FINDINGS


class InputError(PlanforgeError):
    """Exit 2: bad arguments, unreadable input, unwritable output, a missing optional part."""

    exit_code = EXIT_USAGE


class MissingExtra(InputError):
    """Exit 2: a command needs a part of planforge that is not installed; the message names the extra."""

    def __init__(self, distribution: str, extra: str) -> None:
        super().__init__(f"{distribution} is not installed; it comes with an extra: pip install 'planforge[{extra}]'")
        self.distribution = distribution
        self.extra = extra


class MissingDependency(InputError):
    """Exit 2: a dependency planforge always needs is not installed (a broken installation, not a bug)."""

    def __init__(self, distribution: str) -> None:
        super().__init__(
            f"{distribution} is not installed, but planforge needs it: reinstall planforge with its dependencies "
            "(pip install planforge)"
        )
        self.distribution = distribution


class InternalError(PlanforgeError):
    """Exit 3: planforge produced something it refuses to use: a bug, not a problem of the input."""

    exit_code = EXIT_INTERNAL
