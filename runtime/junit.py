"""JUnit XML for CI: one file format for the host (`lstm-edge verify --junit-xml`) and the device
(`python -m lstm_edge.runtime verify --junit-xml`), so both merge in one CI view. Standard library only:
this ships to devices.

    <testsuites><testsuite name="lstm-edge verify: MODEL" tests= failures= skipped=>
      <properties><property name="model" value=…/> …</properties>        run metadata
      <testcase classname="lstm-edge.MODEL" name="STAGE::OUTPUT">            one per stage × output
        <failure message="max abs 0.21 > budget atol 0.001 + rtol 0.001·|ref| (vs onnx-fp32, case …)"/>
      </testcase>
      …                                                                   STAGE::metric, STAGE::drift@N
    </testsuite></testsuites>

The test names are the same on both sides (the stage, '::', what is judged); the host's classname is
"lstm-edge.MODEL", the device's "lstm-edge.device.MODEL".
"""
from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Case:
    name: str                          # "STAGE::OUTPUT", "STAGE::metric", "STAGE::drift@1000"
    failure: str | None = None         # measured against budget, when it missed
    skipped: str | None = None         # why it was not judged (an output the format cannot expose …)
    detail: str = ""                   # the figures when it passed (system-out)
    budget_key: str | None = None      # where its budget is written: "PARENT->STAGE.atol", "streaming.fp32" (CI annotations)


def write(path: Path, suite: str, classname: str, cases: list[Case], properties: dict) -> None:
    """Write `cases` as one <testsuite>; `properties`: run metadata (str values), kept schema-valid."""
    root = ET.Element("testsuites")
    ts = ET.SubElement(root, "testsuite", name=suite, tests=str(len(cases)),
                       failures=str(sum(c.failure is not None for c in cases)), errors="0",
                       skipped=str(sum(c.skipped is not None and c.failure is None for c in cases)), time="0")
    props = ET.SubElement(ts, "properties")
    for k, v in properties.items():
        ET.SubElement(props, "property", name=str(k), value=str(v))
    for c in cases:
        tc = ET.SubElement(ts, "testcase", classname=classname, name=c.name, time="0")
        if c.failure is not None:
            ET.SubElement(tc, "failure", message=c.failure, type="BudgetExceeded").text = c.failure
        elif c.skipped is not None:
            ET.SubElement(tc, "skipped", message=c.skipped)
        if c.detail:
            ET.SubElement(tc, "system-out").text = c.detail
    ET.indent(root)
    Path(path).write_text(ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n", encoding="utf-8")


def budget_text(budget: dict) -> str:
    atol, rtol = budget.get("atol"), budget.get("rtol")
    return "no element budget (recorded)" if atol is None else f"budget atol {atol:g} + rtol {rtol:g}·|ref|"


def device_cases(checks, artifacts: list[dict], metric_name: str | None) -> list[Case]:
    """The device harness's checks (runtime/harness/verify.ArtifactCheck, with the manifest's artefact
    entries) → one case per stage × output, and one per stage for the metric."""
    cases = []
    for check, a in zip(checks, artifacts):
        stage = a.get("stage", check.file.split(".")[0])
        if check.status in ("skipped", "CRASH"):
            why = check.reason or check.status
            for out in a["outputs"]:
                cases.append(Case(f"{stage}::{out}", failure=f"crashed: {why}" if check.status == "CRASH" else None,
                                  skipped=why if check.status == "skipped" else None))
            continue
        for out in a["outputs"]:
            missed = [f for f in check.failures if f"output '{out}'" in f]
            cases.append(Case(f"{stage}::{out}", failure="; ".join(missed)[:2000] or None,
                              detail=f"{check.file}: max abs vs {check.parent} {check.vs_parent:.3g} "
                                     f"({budget_text(a['budget'])})" if check.vs_parent is not None else ""))
        if metric_name and check.metric is not None:
            missed = [f for f in check.failures if f.startswith(metric_name)]
            cases.append(Case(f"{stage}::metric", failure="; ".join(missed) or None,
                              detail=f"{metric_name} {check.metric:.6g} vs {check.parent}'s {check.parent_metric:.6g}"))
    return cases
