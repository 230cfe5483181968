"""What every command shares: error → message + exit code, the command log, the console, the parity table."""
from __future__ import annotations

import functools
import shutil
import sys

import typer

from lstm_edge import console_log
from lstm_edge.errors import LstmEdgeError, from_os_error

DEBUG = False
VERBOSE = False


def handles_errors(fn):
    """Turn lstm-edge errors into one message and their exit code (traceback only with --debug)."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except LstmEdgeError as e:
            if DEBUG:
                raise
            console_log.note(f"lstm-edge: {e.kind}: {e}")
            raise typer.Exit(e.exit_code)
        except KeyboardInterrupt as e:   # SIGINT (130) or SIGTERM (Terminated, 143)
            console_log.note("lstm-edge: interrupted; the previous output is unchanged")
            raise typer.Exit(getattr(e, "exit_code", 130))
        except OSError as e:   # disk full, read-only, permissions … that escaped a typed check
            if DEBUG:
                raise
            err = from_os_error(e)
            console_log.note(f"lstm-edge: {err.kind}: {err}")
            raise typer.Exit(err.exit_code)
        except (typer.Exit, typer.Abort):
            raise
        except Exception as e:  # a bug of ours: say so briefly; the traceback is one flag away
            if DEBUG:
                raise
            console_log.note(f"lstm-edge: internal error: {type(e).__name__}: {e}\n  next step: re-run with "
                             "--debug for the traceback and report it")
            raise typer.Exit(1)

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
                       *[f"{d['y']:.0e} / {d['h']:.0e} / {d['c']:.0e}" for d in r.drift], verdict,
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
