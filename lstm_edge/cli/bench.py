from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import handles_errors, logs_beside, say

NAME = "bench"


@handles_errors
@logs_beside("directory", in_place=True)
def command(
    directory: Optional[Path] = typer.Argument(None, help="An output directory of pipeline/export."),
    scenario: Optional[list[str]] = typer.Option(None, "--scenario", help="step, sequence, throughput (repeatable; default all)."),
    threads: Optional[int] = typer.Option(None, "--threads", min=1, help="Intra-op threads for every runtime and PyTorch "
                                          "(default 1)."),
    rounds: Optional[int] = typer.Option(None, "--rounds", min=1, help="Interleaved rounds (default 5)."),
    peers: Optional[list[str]] = typer.Option(None, "--peers", help="What a user might pick instead, on the same "
                                              "weights: torch-jit, torch-compile, openvino, executorch, or none "
                                              "(repeatable; default every installed one)."),
    compare: Optional[list[Path]] = typer.Option(None, "--compare", help="Instead: compare device bench JSON files "
                                                 "(from python -m lstm_edge.runtime bench --out)."),
):
    """Latency, throughput, memory and size of every stage vs PyTorch eager, each runtime's floor and sgemm;
    writes bench.json, bench.md, bench.png."""
    from lstm_edge.errors import UsageError

    if compare:
        given = [flag for flag, v in (("DIRECTORY", directory), ("--scenario", scenario), ("--threads", threads),
                                      ("--rounds", rounds), ("--peers", peers)) if v]
        if given:
            raise UsageError(f"{' and '.join(given)}: not used with --compare, which only reads the JSON files",
                             hint="run the benchmark and the comparison as two commands")
        from lstm_edge.runtime.harness.compare import render

        typer.echo(render(compare))
        return
    if directory is None:
        raise UsageError("give an output directory to benchmark, or --compare FILE …")
    from lstm_edge.bench.report import markdown
    from lstm_edge.bench.run import bench

    chosen = None if not peers else [] if peers == ["none"] else peers
    doc = bench(directory, scenarios=scenario or None, threads=threads or 1, rounds=rounds or 5, peers=chosen,
                progress=say)
    from lstm_edge.bench.ship import summary_lines

    typer.echo(markdown(doc))
    for line in summary_lines(doc):
        say(line)
    typer.echo(f"wrote {directory}/bench.json, bench.md and bench.png" +
               (f"; the shipping table into {directory}/report.md" if (Path(directory) / "report.md").is_file() else ""))
