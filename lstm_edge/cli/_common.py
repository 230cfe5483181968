"""What every command shares: error → message + exit code, the command log, the console, the parity table."""
from __future__ import annotations

import functools
import shutil
import sys
from pathlib import Path

import typer

from lstm_edge import console_log
from lstm_edge.errors import exit_status

DEBUG = False
VERBOSE = False


def handles_errors(fn):
    """Turn any exception into one message and its exit code (lstm_edge.errors.exit_status, the table
    the device harness uses too); traceback only with --debug."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt as e:   # SIGINT (130) or SIGTERM (Terminated, 143)
            code, message = exit_status(e)
            console_log.note(f"{message}; the previous output is unchanged")
            raise typer.Exit(code)
        except Exception as e:
            if DEBUG:
                raise
            code, message = exit_status(e)
            console_log.note(message)
            raise typer.Exit(code)

    return wrapper


def logs_beside(param: str, *, in_place=False):
    """Put the libraries' output during the command into the log beside kwargs[param]
    (lstm_edge/console_log.py: OUT.log), on the console too with --verbose.

    Goes under @handles_errors, so the log is closed and fd 2 is the console again before an
    error is printed. `in_place` (bool, or a function of the kwargs): the directory must already
    exist, so a mistyped path creates nothing; otherwise the output's parent is made, as the
    staged output will make it anyway."""

    def deco(fn):
        name = sys.modules[fn.__module__].NAME

        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            anchor = kwargs.get(param)
            existing = in_place(kwargs) if callable(in_place) else in_place
            path = console_log.log_path(anchor, name)
            title = f"lstm-edge {name} {anchor or ''}".rstrip()
            with console_log.CommandLog(path, title, verbose=VERBOSE, create_parent=not existing):
                return fn(*args, **kwargs)

        return wrapper

    return deco


def check_output_dir(out: Path, option: str = "--out", *, source: Path | None = None) -> None:
    """Before any work: OUT can become a directory. A file in its place or above it, or OUT being
    (or holding) the input directory `source`, is a usage error (2); a place we cannot write, exit 5.
    The staged output checks again when it publishes; this makes the mistake cost nothing."""
    import os

    from lstm_edge.errors import EnvironmentFault, UsageError

    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UsageError(f"{option} {out}: an existing file, not a directory", hint=f"choose another {option}")
    full = out.resolve()
    if source is not None and (full == Path(source).resolve() or full in Path(source).resolve().parents):
        raise UsageError(f"{option} {out} would replace its own input {source}", hint=f"choose an {option} outside {source}")
    above = next(p for p in full.parents if p.exists())
    if not above.is_dir():
        raise UsageError(f"{option} {out}: {above} is a file, so no directory can be made under it",
                         hint=f"choose another {option}")
    if not os.access(above, os.W_OK | os.X_OK):    # then the real reason, from the write the staging would do
        import errno

        probe = above / f".{full.name}.probe-{os.getpid()}"
        try:
            probe.mkdir()
            probe.rmdir()
        except OSError as e:
            raise EnvironmentFault(f"{option} {out}: cannot write in {above}: {e.strerror or e} "
                                   f"({errno.errorcode.get(e.errno or 0, '?')})",
                                   hint=f"choose a writable {option}; the previous output is unchanged")


def artifact_in(directory: Path, name: str) -> Path:
    """DIR/NAME for --artifact, before any work: a name that is not an artefact of DIR is a usage
    error (2) naming the ones there, as the device harness does for a bundle."""
    from lstm_edge.errors import InvalidInputError, UsageError
    from lstm_edge.files import list_artifacts

    directory = Path(directory)
    if not (directory / "model.json").is_file():
        raise InvalidInputError(f"{directory} holds no model.json", hint="run lstm-edge pipeline first")
    available = [p.name for p in list_artifacts(directory)]
    if name not in available:
        raise UsageError(f"{directory}: no artefact '{name}'",
                         hint=f"choose one of {available}" if available else f"export one first: lstm-edge export {directory}")
    return directory / name


def console():
    from rich.console import Console

    return Console(highlight=False, width=max(150, shutil.get_terminal_size().columns))


def say(msg: str) -> None:
    """A progress line: on the console (stderr), and in the command's log to place the libraries' lines."""
    console_log.note(f"· {msg}")


def print_report(report) -> None:
    """The parity table and the forecast line, as the user sees them after verify/pipeline."""
    from rich.table import Table

    from lstm_edge.verify.report import PARITY_HEADER, QUANT_HEADER, missing_notes, parity_rows, quant_rows

    out = console()
    table = Table(title=f"parity against the parent stage: {report.model}")
    for h in PARITY_HEADER:
        table.add_column(h, no_wrap=True)
    for row in parity_rows(report):
        style = "red" if row[-1] == "FAIL" else None
        table.add_row(*row, style=style)
    out.print(table)
    for note in missing_notes(report):
        out.print(note)
    rows = quant_rows(report)
    if rows:
        q = Table(title="quantization: y on the test windows against the fp32 artefact of the same format")
        for h in QUANT_HEADER:
            q.add_column(h, no_wrap=True)
        for row in rows:
            q.add_row(*row, style="red" if row[-1] == "FAIL" else "yellow" if row[-1] == "refused" else None)
        out.print(q)
        for r in report.refusals:
            out.print(f"[yellow]refused[/yellow] {r['reason']}")
    if report.streaming:
        hz = [d["horizon"] for d in report.streaming[0].drift]
        st = Table(title="streaming: one step per call, state carried; max |Δ| of y / h / c against PyTorch at horizon n")
        for h in ["stage", "precision", "stepped vs chunks / whole"] + [f"n = {n}" for n in hz] + ["verdict"]:
            st.add_column(h, no_wrap=True)
        for r in report.streaming:
            verdict = "pass" if r.passed else (f"FAIL at n = {r.failed_horizon}" if r.failed_horizon else "FAIL")
            st.add_row(r.stage, r.precision, " / ".join(f"{v:.0e}" for v in r.equivalence.values()),
                       *[f"{d['y']:.0e} / {d['h']:.0e} / " + (f"{d['c']:.0e}" if "c" in d else "—") for d in r.drift], verdict,
                       style=None if r.passed else "red")
        out.print(st)
    f = report.forecast
    out.print(f"task ({report.task}): {f['summary']}")
    for s in report.stages[1:]:
        out.print(f"  {s.name:<22} test {f['metric']} {s.metrics['value']:.5f}")
    for line in report.failures():
        out.print(f"[red]FAIL[/red] {line}")
    out.print(f"verdict: {'[green]PASS[/green]' if report.passed else '[red]FAIL[/red]'}")


def finish(report, directory, *, extra: tuple[str, ...] = ()) -> None:
    print_report(report)
    console().print(f"wrote {directory}/report.json and {directory}/report.md")
    for line in extra:
        typer.echo(line)
    if not report.passed:
        raise typer.Exit(1)
