"""Typed errors, one per exit code (design.md §4, reliability.md).

Every error carries what a user needs to act: what went wrong, where (file, tensor,
column, index), expected vs actual, and one next step. The CLI turns them into a
one-paragraph message and the exit code; no stack trace unless --debug.
"""
from __future__ import annotations


class LstmEdgeError(Exception):
    """Base: a message plus the exit code the CLI returns for it."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f"\n  next step: {self.hint}" if self.hint else "")


class ParityError(LstmEdgeError):
    """A stage missed its budget (exit 1)."""

    exit_code = 1
    kind = "parity failure"


class QuantizationRefused(ParityError):
    """No attempt of a recipe meets its budget on the validation windows (exit 1).

    Carries the measured figures, so the refusal is reported, not hidden."""

    kind = "recipe refused"

    def __init__(self, message: str, *, record: dict, hint: str | None = None):
        super().__init__(message, hint=hint)
        self.record = record


class UsageError(LstmEdgeError):
    """The command was called wrongly (exit 2)."""

    exit_code = 2
    kind = "usage error"


class InvalidInputError(LstmEdgeError):
    """A file, artefact, spec or data set is invalid or corrupt (exit 3)."""

    exit_code = 3
    kind = "invalid input"


class ConversionError(InvalidInputError):
    """A converter produced an artefact that breaks a contract (exit 3).

    Collects every failed check so the user sees all of them at once.
    """

    kind = "conversion check failed"

    def __init__(self, artifact: str, failures: list[str], *, hint: str | None = None):
        self.failures = list(failures)
        lines = "\n".join(f"  [x] {f}" for f in self.failures)
        super().__init__(f"{artifact}: {len(self.failures)} check(s) failed\n{lines}", hint=hint)


class SecurityRefusal(LstmEdgeError):
    """We refuse to load something that could execute code or escape its directory (exit 4)."""

    exit_code = 4
    kind = "security refusal"


class EnvironmentFault(LstmEdgeError):
    """Disk full, permissions, missing dependency (exit 5)."""

    exit_code = 5
    kind = "environment fault"
