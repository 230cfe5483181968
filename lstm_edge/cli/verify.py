from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import handles_errors, logs_beside, print_report, say
from lstm_edge.runtime.harness.paths import check_output_file

NAME = "verify"


@handles_errors
@logs_beside("directory", in_place=lambda kw: kw.get("directory") is not None)
def command(directory: Optional[Path] = typer.Argument(None, help="Directory with a checkpoint (or project) and its "
                                                       "artefacts. Not with --recheck."),
            junit_xml: Path = typer.Option(None, "--junit-xml", help="Also write JUnit XML here: one test per stage × "
                                           "output, metric and streaming horizon (the device harness writes the same)"),
            recheck: Optional[Path] = typer.Option(None, "--recheck", help="Re-judge this stored report.json against "
                                                   "--budgets, running nothing."),
            budgets: Optional[Path] = typer.Option(None, "--budgets", help="With --recheck: a spec, project or budgets "
                                                   "file ([[tolerance]] rows, optional [streaming])."),
            report_json: Optional[Path] = typer.Option(None, "--report-json", help="With --recheck: write the re-judged "
                                                       "report.json here."),
            baseline: Optional[Path] = typer.Option(None, "--baseline", help="The last accepted report.json: fail when "
                                                    "a figure grew past --max-regression, even inside its budget."),
            max_regression: Optional[list[str]] = typer.Option(None, "--max-regression", help="FIGURE:PERCENT "
                                                               "(repeatable; max_abs, max_rel, mean_abs, rmse, metric); "
                                                               "default max_abs:20%."),
            warn_only: bool = typer.Option(False, "--warn-only", help="Report every miss but exit 0 (said loudly; the "
                                           "verdict stays FAIL in every file)."),
            no_ci_annotations: bool = typer.Option(False, "--no-ci-annotations", help="Under GitHub Actions, do not write "
                                                   "the step summary and ::error annotations.")):
    """Check every stage against its parent; writes report.json and report.md; exit 1 on any budget miss,
    3 when DIRECTORY holds no artefact to verify (a check that cannot fail is not a PASS). With --recheck, the
    stored figures of a report.json are judged against new budgets instead."""
    from lstm_edge.verify.baseline import parse_limits
    from lstm_edge.verify.junit import report_cases

    plan = _checked(directory, recheck, budgets, report_json, baseline, max_regression, junit_xml)
    if warn_only:
        say("WARN-ONLY: budget misses are reported but do not fail this run (exit 0)")
    against = None
    if baseline is not None:
        from lstm_edge.verify.recheck import load_report

        against = (load_report(baseline), parse_limits(max_regression), baseline)
    if plan == "recheck":
        from lstm_edge.files import write_json_atomic
        from lstm_edge.verify.recheck import recheck as rejudge
        from lstm_edge.verify.run import judge_baseline

        report = rejudge(recheck, budgets)
        report.warn_only = warn_only
        judge_baseline(report, against)
        if report_json is not None:
            write_json_atomic(report_json, report.to_dict())
    else:
        from lstm_edge.verify.run import verify

        report = verify(directory, progress=say, baseline=against, warn_only=warn_only)
    cases = report_cases(report)
    wrote = []
    if junit_xml is not None:
        from lstm_edge.verify.junit import write_report_junit

        write_report_junit(junit_xml, report, cases)
        wrote.append(f"wrote {junit_xml} (JUnit XML)")
    from lstm_edge.verify import github

    if github.enabled(no_ci_annotations):
        github.publish(report, cases, echo=typer.echo)
    print_report(report)
    if plan == "recheck":
        typer.echo(f"re-judged {recheck} (verdict then: {report.recheck['report_verdict'].upper()}) with {budgets}"
                   + (f"; wrote {report_json}" if report_json else ""))
    else:
        typer.echo(f"wrote {directory}/report.json and {directory}/report.md")
    for line in wrote:
        typer.echo(line)
    if not report.passed:
        if warn_only:
            say(f"WARN-ONLY: {len(report.failures())} budget miss(es) above do NOT fail this run (exit 0); "
                "the verdict in report.json and the JUnit file is FAIL")
            return
        raise typer.Exit(1)


def _checked(directory, recheck, budgets, report_json, baseline, max_regression, junit_xml) -> str:
    """Every option checked before any work: "verify" or "recheck"."""
    from lstm_edge.errors import InvalidInputError, UsageError

    if recheck is not None and directory is not None:
        raise UsageError("--recheck re-judges a stored report.json: it takes no DIRECTORY",
                         hint="lstm-edge verify --recheck DIR/report.json --budgets new.toml")
    if (budgets is None) != (recheck is None):
        raise UsageError("--recheck and --budgets go together: the stored figures are judged against the new budgets",
                         hint="lstm-edge verify --recheck DIR/report.json --budgets new.toml")
    if recheck is None and directory is None:
        raise UsageError("give a DIRECTORY to verify, or --recheck report.json --budgets FILE")
    if report_json is not None and recheck is None:
        raise UsageError("--report-json is for --recheck (verify DIR always writes DIR/report.json)")
    if max_regression and baseline is None:
        raise UsageError("--max-regression needs --baseline: the last accepted report.json to compare with")
    for path, option in ((recheck, "--recheck"), (budgets, "--budgets"), (baseline, "--baseline")):
        if path is not None and not Path(path).is_file():
            raise InvalidInputError(f"{option} {path}: no such file")
    if max_regression:
        from lstm_edge.verify.baseline import parse_limits

        parse_limits(max_regression)
    check_output_file(junit_xml, "--junit-xml")
    check_output_file(report_json, "--report-json")
    return "recheck" if recheck is not None else "verify"
