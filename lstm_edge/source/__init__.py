"""Where a verified directory's model comes from: one interface for the chain's later stages.

quantize → verify → bundle run on a directory holding a model and its data. That model is either
one lstm-edge trained from a spec in models/ (model.json "kind" absent or "spec": SpecSource) or a
user's own module described by a project file (model.json "kind": "project": ProjectSource,
lstm_edge/project/). Both answer the same questions, so the stages have one code path:

    source.name, source.kind            the model's name; "spec" | "project"
    source.task                         .metric, .lower_is_better, .scored_steps, .score(y, eval), .golden_target(eval)
    source.budget(parent, child)        the Tolerance of a stage (a missing one is an error)
    source.torch_runner()               PyTorch as a Runner (x, h0[, c0] → y, hn[, cn])
    source.reference_runner()           the NumPy equations as a Runner, or None (a user's module has none)
    source.parity_cases()               [Case]: the test (evaluation) set from the zero state, then the random grid
    source.test_set(), source.val_set() {"x", …targets}: verify scores on the first, quantize chooses on the second
    source.zero_state(batch)            {"h0": …[, "c0": …]} zeros in the model's state layout
    source.calibration_feeds()          [feeds] for the quantizers
    source.recipes                      the quantization recipes that apply to this model
    source.build_tflite(recipe, options, out, feeds)   a TFLite recipe's candidate → facts for its sidecar
    source.check_streams(stages)        streaming equivalence and drift ([] where the model has no streaming artefact)
    source.weights_sha256, source.meta  for golden vectors and the report
    source.provenance()                 seeds, the golden data's hash, the budget file and its lines (report.json)
"""
from __future__ import annotations

from pathlib import Path


def open_source(directory: Path):
    """The source of DIR (hashes checked as it loads)."""
    from lstm_edge.files import read_json

    meta_path = Path(directory) / "model.json"
    kind = read_json(meta_path).get("kind", "spec") if meta_path.is_file() else "spec"
    if kind == "project":
        from lstm_edge.source.project import ProjectSource

        return ProjectSource(Path(directory))
    from lstm_edge.source.spec import SpecSource

    return SpecSource(Path(directory))
