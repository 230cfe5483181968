from __future__ import annotations

from pathlib import Path

import typer

from lstm_edge.cli._common import finish, handles_errors, logs_beside, say
from lstm_edge.runtime.harness.paths import check_output_file

NAME = "verify"


@handles_errors
@logs_beside("directory", in_place=True)
def command(directory: Path = typer.Argument(..., help="Directory with a checkpoint and its artefacts."),
            junit_xml: Path = typer.Option(None, "--junit-xml", help="Also write JUnit XML here: one test per stage × "
                                           "output, metric and streaming horizon (the device harness writes the same)")):
    """Check every stage against its parent; writes report.json and report.md; exit 1 on any budget miss,
    3 when DIRECTORY holds no artefact to verify (a check that cannot fail is not a PASS)."""
    from lstm_edge.verify.run import verify

    if junit_xml is not None:
        check_output_file(junit_xml, "--junit-xml")
    report = verify(directory, progress=say)
    extra = ()
    if junit_xml is not None:
        from lstm_edge.verify.junit import write_report_junit

        write_report_junit(junit_xml, report)
        extra = (f"wrote {junit_xml} (JUnit XML)",)
    finish(report, directory, extra=extra)
