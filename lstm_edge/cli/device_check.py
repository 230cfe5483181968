from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from lstm_edge.cli._common import console, handles_errors, say

NAME = "device-check"


@handles_errors
def command(bundle: Path = typer.Argument(..., help="A device bundle (OUT/bundle of lstm-edge pipeline)."),
            arch: str = typer.Option(..., "--arch", help="The architecture to check on, emulated: aarch64."),
            bench: bool = typer.Option(False, "--bench", help="Also run the harness's bench there (emulated figures: "
                                       "recorded, labelled 'not a latency', never compared)."),
            json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the result as JSON here."),
            junit_xml: Optional[Path] = typer.Option(None, "--junit-xml", help="JUnit XML from the harness there (the "
                                                     "same format as python -m lstm_edge.runtime verify)."),
            cache: Optional[Path] = typer.Option(None, "--cache", help="Where the emulated environment is built and "
                                                 "kept (default: ~/.cache/lstm-edge/<arch>, or $LSTM_EDGE_CACHE)"),
            no_ci_annotations: bool = typer.Option(False, "--no-ci-annotations", help="Under GitHub Actions "
                                                   "(GITHUB_ACTIONS=true): no step summary and no ::error lines.")):
    """Run the device harness on another architecture, emulated (qemu-user; built once from Debian's and PyPI's
    packages, cached): every artefact judged there, and its outputs compared with the host's."""
    import json

    from lstm_edge.emulate.check import ARCHES, HEADER, device_check, failures, judge, publish_github, rows
    from lstm_edge.errors import UsageError
    from lstm_edge.runtime.harness.verify import format_table
    from lstm_edge.runtime.harness.paths import check_output_file

    if arch not in ARCHES:
        raise UsageError(f"--arch {arch}: not one lstm-edge can emulate", hint="choose one of: " + ", ".join(ARCHES))
    for path, option in ((json_out, "--json"), (junit_xml, "--junit-xml")):
        if path is not None:
            check_output_file(path, option)
    doc = device_check(bundle, arch, bench=bench, junit_xml=junit_xml, cache=cache, say=say)
    env = doc.get("environment") or {}
    console().print(f"{arch}: {env.get('machine')} {env.get('cpu')}, Python {env.get('python')}, onnxruntime "
                    f"{env.get('onnxruntime')}, ai-edge-litert {env.get('ai-edge-litert')}; emulated by {doc['emulated']} "
                    f"({doc['seconds']:.0f} s)", markup=False, highlight=False)
    console().print(format_table(HEADER, rows(doc)), markup=False, highlight=False)
    for f in failures(doc):
        console().print(f"FAIL {f}", markup=False, highlight=False)
    if json_out:
        json_out.write_text(json.dumps(doc, indent=2) + "\n")
    if (bundle.parent / f"device-{arch}.json").is_file() and (bundle.parent / "report.json").is_file():
        say(f"kept as {bundle.parent / f'device-{arch}.json'}; report.md has its cross-architecture section")
    console().print(f"verdict on {arch}: {'PASS' if doc['passed'] else 'FAIL'}", markup=False, highlight=False)
    from lstm_edge.verify.github import enabled

    if enabled(no_ci_annotations):
        model = json.loads((bundle / "manifest.json").read_text())["model"]["name"]
        publish_github(doc, model, echo=lambda line: console().print(line, markup=False, highlight=False, soft_wrap=True))
    judge(doc)
