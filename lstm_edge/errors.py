"""Typed errors, one per exit code (the README's exit-code table).

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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so staging directories are removed on the way out (exit 143)."""

    exit_code = 143


def on_sigterm() -> None:
    """Turn SIGTERM into Terminated: `finally` and `except BaseException` blocks then run."""
    import signal

    def raise_terminated(signum, frame):
        raise Terminated()

    signal.signal(signal.SIGTERM, raise_terminated)


# errno values that mean "this machine cannot do it now", not "your input is wrong"
_ENVIRONMENT_ERRNOS = {"ENOSPC", "EDQUOT", "EFBIG", "EROFS", "EACCES", "EPERM", "EMFILE", "ENFILE", "ENOMEM", "EBUSY"}


def from_os_error(e: OSError) -> LstmEdgeError:
    """An OSError that escaped our own checks, as a typed error: disk full, read-only or
    permissions → exit 5; a path that does not exist → exit 3."""
    import errno

    name = errno.errorcode.get(e.errno or 0, "")
    where = f"{e.filename}: " if e.filename else ""
    if name in _ENVIRONMENT_ERRNOS:
        return EnvironmentFault(f"{where}{e.strerror or e} ({name})",
                                hint="free disk space or choose a writable output directory; the previous output is unchanged")
    return InvalidInputError(f"{where}{e.strerror or e}" + (f" ({name})" if name else ""))
