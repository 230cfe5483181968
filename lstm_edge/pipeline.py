"""`lstm-edge pipeline`: train → export all → quantize (every recipe) → verify → report →
device bundle (OUT/bundle: every stage that passed), published atomically.

`lstm-edge pipeline --project lstm-edge.toml`: the same chain for a user's own module — prepare
(copy, check, export fp32: lstm_edge/project/prepare.py) replaces training; quantize, verify,
report and bundle are the same code, reading the model through lstm_edge/source.

Everything is built in a staging directory beside OUT and swapped into place at the end,
so an interrupted run leaves the previous OUT as it was.
"""
from __future__ import annotations

from pathlib import Path

from lstm_edge.files import staged_output
from lstm_edge.converters.recipes import RECIPES
from lstm_edge.exporting.artifacts import FORMATS, export
from lstm_edge.verify.report import Report
from lstm_edge.model.spec import Spec
from lstm_edge.tasks import task_for
from lstm_edge.train.fit import train
from lstm_edge.verify.run import verify

BUNDLE = "bundle"


def pipeline(spec: Spec, out: Path, *, data: Path | None = None, progress=None, bar: bool = True,
             budget_file: Path | None = None) -> Report:
    """budget_file: the spec file the budgets were read from (report.json and CI annotations point at its lines)."""
    say = progress or (lambda msg: None)
    from lstm_edge.bundle.build import bundle

    task = task_for(spec)
    task_data = task.load(data)
    with staged_output(out) as staging:
        say(f"training '{spec.name}' ({task.name}) on {task_data.source}: {len(task_data.train.x)} training windows "
            f"of {task_data.train.x.shape[1]} steps, {len(task_data.features)} input channels")
        train(spec, task, task_data, staging, progress=bar, budget_file=budget_file)
        export(staging, list(FORMATS), recipes=list(RECIPES), progress=say)
        report = verify(staging, progress=say)
        say("bundling every stage that passed for the device (OUT/bundle)")
        bundle(staging, staging / BUNDLE, progress=say)
    return report


def project_pipeline(project, out: Path, *, progress=None, budget_file: Path | None = None) -> Report:
    say = progress or (lambda msg: None)
    from lstm_edge.bundle.build import bundle
    from lstm_edge.project.prepare import prepare
    from lstm_edge.source import open_source

    with staged_output(out) as staging:
        prepare(project, staging, progress=say, budget_file=budget_file)
        recipes = open_source(staging).recipes
        say(f"quantizing with every recipe that applies ({', '.join(recipes)}), judged by {project.name}'s metric "
            "on its evaluation set")
        export(staging, [], recipes=recipes, progress=say)
        report = verify(staging, progress=say)
        say("bundling every stage that passed for the device (OUT/bundle)")
        bundle(staging, staging / BUNDLE, progress=say)
    return report
