"""The `lstm-edge` command: one file per command, each body a call into the library.

Heavy libraries are imported inside the commands, so `lstm-edge --help` stays fast.
"""
from __future__ import annotations

import typer

from lstm_edge.cli import _common
from lstm_edge.errors import exit_code_summary

app = typer.Typer(add_completion=False, no_args_is_help=True, rich_markup_mode=None, pretty_exceptions_enable=False,
                  help="Train, export and verify LSTMs for edge devices, with parity checked at every stage.",
                  epilog=f"Exit codes (the same for python -m lstm_edge.runtime): {exit_code_summary()}.")


@app.callback()
def _root(debug: bool = typer.Option(False, "--debug", help="Show stack traces on errors."),
          verbose: bool = typer.Option(False, "--verbose", help="Also show the libraries' own messages (TensorFlow, "
                                       "onnxruntime, warnings) here; they always go to the log OUT.log beside the output.")):
    _common.DEBUG = debug
    _common.VERBOSE = verbose


from lstm_edge.cli import (bench, bundle, device_check, export, init, pipeline, probe, sample, stream,  # noqa: E402
                           train, verify)  # (register the commands)

for _module in (init, train, export, verify, pipeline, stream, sample, bundle, bench, device_check, probe):
    app.command(name=_module.NAME)(_module.command)


def main() -> None:
    from lstm_edge.errors import on_sigterm

    on_sigterm()          # SIGTERM cleans up like Ctrl-C does, then exits 143
    app()
