"""Typed errors, one per exit code, and the one exit-code table (README "Command line").

Every error carries what a user needs to act: what went wrong, where (file, tensor,
column, index), expected vs actual, and one next step. Both entry points — the `lstm-edge`
CLI (lstm_edge/cli/_common.py) and the device harness `python -m lstm_edge.runtime`
(runtime/__main__.py) — turn any exception into a message and an exit code through
`exit_status` below, so the same mistake gives the same code from either. Stdlib only: the
device harness imports this module.
"""
from __future__ import annotations

# kind → (exit code, what it means). The README's table and `exit_code_summary()` come from here;
# every error class below takes its code from it.
EXIT_CODES: dict[str, tuple[int, str]] = {
    "ok": (0, "ok"),
    "failure": (1, "parity or budget failure"),
    "usage": (2, "usage error (unknown option or name, value out of range, options that do not go together "
                 "or do not apply)"),
    "invalid input": (3, "invalid or corrupt input (file, artefact, spec, data, runtime input; nothing to "
                         "verify; an artefact that cannot do what is asked)"),
    "security": (4, "security refusal (a pickle, a path outside its directory)"),
    "environment": (5, "environment fault (disk full, read-only, permissions, output in use, no runtime installed, a "
                       "missing system prerequisite such as qemu-user-static)"),
    "interrupted": (130, "interrupted (Ctrl-C)"),
    "terminated": (143, "terminated (SIGTERM)"),
}
INTERNAL_ERROR = EXIT_CODES["failure"][0]      # a bug of ours; the traceback is one flag (--debug) away


def code(kind: str) -> int:
    return EXIT_CODES[kind][0]


def exit_code_summary() -> str:
    """'0 ok · 1 parity or budget failure · …': the line both entry points' help and the README show."""
    return " · ".join(f"{c} {what}" for c, what in EXIT_CODES.values())


class LstmEdgeError(Exception):
    """Base: a message plus the exit code the CLI returns for it."""

    exit_code = code("failure")
    kind = "error"

    def __init__(self, message: str, *, hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message + (f"\n  next step: {self.hint}" if self.hint else "")


class ParityError(LstmEdgeError):
    """A stage missed its budget (exit 1)."""

    exit_code = code("failure")
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

    exit_code = code("usage")
    kind = "usage error"


class InvalidInputError(LstmEdgeError):
    """A file, artefact, spec or data set is invalid or corrupt (exit 3)."""

    exit_code = code("invalid input")
    kind = "invalid input"


class NothingToVerify(InvalidInputError):
    """A verify that could not fail: no artefact to check (exit 3, never a PASS)."""

    kind = "nothing to verify"


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

    exit_code = code("security")
    kind = "security refusal"


class EnvironmentFault(LstmEdgeError):
    """Disk full, permissions, missing dependency (exit 5)."""

    exit_code = code("environment")
    kind = "environment fault"


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the process is, so staging directories are removed on the way out (exit 143)."""

    exit_code = code("terminated")


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


def exit_status(e: BaseException) -> tuple[int, str]:
    """(exit code, the message to print) for any exception reaching an entry point: the one
    mapping `lstm-edge` and `python -m lstm_edge.runtime` share."""
    if isinstance(e, KeyboardInterrupt):            # SIGINT (130) or SIGTERM (Terminated, 143)
        return getattr(e, "exit_code", code("interrupted")), "lstm-edge: interrupted"
    if isinstance(e, OSError):                      # disk full, read-only, permissions … that escaped a typed check
        e = from_os_error(e)
    if isinstance(e, LstmEdgeError):
        return e.exit_code, f"lstm-edge: {e.kind}: {e}"
    return INTERNAL_ERROR, (f"lstm-edge: internal error: {type(e).__name__}: {e}\n  next step: re-run with --debug "
                            "for the traceback and report it")
