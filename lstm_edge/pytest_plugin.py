"""The pytest plugin (entry point `pytest11: lstm_edge`, installed with the package): parity tests in your own suite.

Two lines in your tests/, and the bundle and golden file named once (pytest.ini / pyproject.toml, or the command line):

    # tests/test_lstm_edge.py
    def test_parity(lstm_edge_check):
        lstm_edge_check()

    [tool.pytest.ini_options]
    lstm_edge_bundle = "artifacts/sensor/bundle"          # a bundle (directory or .tar.gz), or a pipeline's OUT
    lstm_edge_golden = "tests/golden/sensor.npz"          # golden vectors, committed with your code

Every artefact of the bundle becomes one test per output it is judged on, and one for its task metric, with ids
like `test_parity[tflite-fp32::hn]` and `test_parity[onnx-int8-dynamic::metric]`, so `-k`, `--lf` and
`--junitxml` see each. A test runs the artefact (once per session, in a child process: a native crash is a
failure, not a dead pytest) on the golden inputs and compares each output with the golden output of its
parent stage — PyTorch for an fp32 export, the fp32 artefact for a quantized one — within the stage's budget
from the spec or project file (carried by the bundle's manifest; lstm_edge/runtime/budget.py is the rule).
An output with no element budget (int8) is skipped there and judged by its `::metric` test.

`--lstm-edge-regen` rewrites the golden file from the bundle (its inputs and PyTorch's outputs, and what every
artefact computes here) and fails every test of that run, as pytest-regressions does: a regeneration is always
a visible change to commit. On a mismatch, `<golden>.obtained.npz` is left beside the golden file (the same
layout, what the artefacts computed now) and the failure lists the worst elements.

Only the device's dependencies are imported (numpy and a runtime): the plugin works in a base install.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

BUNDLE_HELP = "lstm-edge bundle (directory or .tar.gz) or a pipeline's output directory, judged by lstm_edge_check"
GOLDEN_HELP = "golden vectors file for lstm_edge_check (committed with your tests; --lstm-edge-regen writes it)"
WORST = 5                  # elements listed per failing output


def pytest_addoption(parser):
    group = parser.getgroup("lstm-edge", "lstm-edge parity tests (the lstm_edge_check fixture)")
    group.addoption("--lstm-edge-bundle", default=None, help=BUNDLE_HELP)
    group.addoption("--lstm-edge-golden", default=None, help=GOLDEN_HELP)
    group.addoption("--lstm-edge-regen", action="store_true", default=False,
                    help="rewrite the golden file from the bundle and fail this run (commit the new file)")
    parser.addini("lstm_edge_bundle", BUNDLE_HELP)
    parser.addini("lstm_edge_golden", GOLDEN_HELP)


def pytest_generate_tests(metafunc):
    if "lstm_edge_check" not in metafunc.fixturenames:
        return
    session = _session(metafunc.config)
    ids = session.check_ids()
    metafunc.parametrize("lstm_edge_check", ids, ids=ids, indirect=True)


@pytest.fixture
def lstm_edge_check(request):
    """Call it to judge one stage × output (or one stage's metric) against the golden vectors."""
    session, check_id = _session(request.config), request.param
    return lambda: session.judge(check_id)


def _session(config) -> ParitySession:
    if not hasattr(config, "_lstm_edge_session"):
        config._lstm_edge_session = ParitySession.from_config(config)
    return config._lstm_edge_session


def _option(config, name: str) -> Path | None:
    value = config.getoption(f"--lstm-edge-{name}") or config.getini(f"lstm_edge_{name}")
    if not value:
        return None
    path = Path(value)
    return path if path.is_absolute() or config.getoption(f"--lstm-edge-{name}") else Path(config.rootpath) / path


class ParitySession:
    """The bundle, the golden file and every artefact's outputs, computed once per pytest session."""

    def __init__(self, bundle_path: Path, golden_path: Path | None, regen: bool):
        from lstm_edge.errors import LstmEdgeError
        from lstm_edge.runtime.harness.bundle_files import open_bundle

        if (bundle_path / "bundle").is_dir() and not (bundle_path / "manifest.json").exists():
            bundle_path = bundle_path / "bundle"                     # a pipeline's OUT: its bundle
        try:
            self.bundle = open_bundle(bundle_path)                   # digest, paths and every hash checked first
        except LstmEdgeError as e:
            raise pytest.UsageError(f"lstm-edge: {e}") from None
        if regen and golden_path is None:
            raise pytest.UsageError("lstm-edge: --lstm-edge-regen writes the golden file named by --lstm-edge-golden "
                                    "(or lstm_edge_golden in your pytest configuration); none is named")
        self.golden_path, self.regen = golden_path, regen
        self._obtained: dict[str, dict] = {}
        self._golden: dict | None = None
        self._regenerated = False

    @classmethod
    def from_config(cls, config) -> ParitySession:
        bundle = _option(config, "bundle")
        if bundle is None:
            raise pytest.UsageError("lstm-edge: lstm_edge_check needs a bundle: --lstm-edge-bundle PATH, or "
                                    "lstm_edge_bundle = PATH in your pytest configuration")
        return cls(bundle, _option(config, "golden"), config.getoption("--lstm-edge-regen"))

    # --- what is tested ------------------------------------------------------------------------

    def check_ids(self) -> list[str]:
        metric = self.bundle.manifest.get("metric")
        ids = []
        for a in self.bundle.artifacts:
            ids += [f"{a['stage']}::{out}" for out in a["outputs"]]
            if a["budget"].get("metric_increase") is not None and metric:
                ids.append(f"{a['stage']}::metric")
        return ids

    def artifact(self, stage: str) -> dict:
        return next(a for a in self.bundle.artifacts if a["stage"] == stage)

    def obtained(self, a: dict) -> dict:
        """{case: outputs} of artefact `a` on the golden inputs (the bundle's own when regenerating)."""
        if a["file"] not in self._obtained:
            from lstm_edge.errors import LstmEdgeError
            from lstm_edge.runtime.harness.verify import RUNTIME_MODULES, Crashed, run_isolated, runtime_installed

            if not runtime_installed(a["runtime"]):
                pytest.skip(f"{a['file']}: {RUNTIME_MODULES[a['runtime']]} is not installed here")
            inputs = None if self.regen or self.golden_path is None else str(self.golden_path)
            try:
                self._obtained[a["file"]] = run_isolated(self.bundle, a["file"], threads=1, inputs=inputs)
            except Crashed as e:
                pytest.fail(f"{a['file']}: the runtime crashed running it ({e})", pytrace=False)
            except LstmEdgeError as e:               # the golden inputs do not fit the artefact, a corrupt file …
                pytest.fail(f"{a['file']}: {e}", pytrace=False)
        return self._obtained[a["file"]]

    def golden(self) -> dict:
        if self._golden is None:
            if self.golden_path is None:
                self._golden = dict(self.bundle.golden)
            else:
                self._golden = self._committed()
        return self._golden

    def _committed(self) -> dict:
        from lstm_edge.errors import LstmEdgeError
        from lstm_edge.runtime.sniff import read_npz

        if not self.golden_path.is_file():
            pytest.fail(f"no golden file at {self.golden_path}: run pytest --lstm-edge-regen once, review the file and "
                        "commit it", pytrace=False)
        try:
            golden = read_npz(self.golden_path)
        except LstmEdgeError as e:
            pytest.fail(f"{self.golden_path}: {e}", pytrace=False)
        want = self.bundle.manifest["model"]["weights_sha256"]
        have = str(golden.get("model_sha256", ""))
        if have != want:
            pytest.fail(f"{self.golden_path} holds the golden vectors of another model (weights {have[:12]}…, the bundle's "
                        f"{want[:12]}…): if the model changed on purpose, run pytest --lstm-edge-regen and commit the "
                        "new file", pytrace=False)
        return golden

    # --- judging -------------------------------------------------------------------------------

    def judge(self, check_id: str) -> None:
        if self.regen:
            self._regenerate()
            pytest.fail(f"regenerated {self.golden_path} (--lstm-edge-regen): review and commit it; this run fails "
                        "so that a regeneration is always a visible change", pytrace=False)
        stage, _, what = check_id.partition("::")
        a = self.artifact(stage)
        if what == "metric":
            return self._judge_metric(a)
        self._judge_output(a, what)

    def _judge_output(self, a: dict, name: str) -> None:
        from lstm_edge.runtime.budget import element_excess, elements_within
        from lstm_edge.runtime.harness.verify import aligned

        atol, rtol = a["budget"].get("atol"), a["budget"].get("rtol")
        golden, got = self.golden(), self.obtained(a)
        if atol is None:
            pytest.skip(f"{a['stage']} has no element budget for '{name}': judged by {a['stage']}::metric")
        problems, judged = [], 0
        for case, outs in got.items():
            key = f"{a['parent']}.{case}.{name}"
            if key not in golden or name not in outs:
                continue                          # the parent does not expose it (the fused TFLite kernel: no cn)
            ref = golden[key].astype(np.float64)
            mine = aligned(outs[name], ref)
            judged += 1
            if not elements_within(mine, ref, atol, rtol):
                problems.append(_worst(case, mine, ref, element_excess(mine, ref, atol, rtol), atol, rtol))
        if not judged:
            pytest.skip(f"the golden file holds no '{name}' of {a['parent']} to compare {a['stage']} with")
        if problems:
            self._write_obtained()
            pytest.fail(f"{a['stage']}::{name} differs from {a['parent']}'s golden output beyond its budget "
                        f"(atol {atol:g} + rtol {rtol:g}·|ref|)\n" + "\n".join(problems)
                        + f"\nobtained outputs: {self._obtained_path()}", pytrace=False)

    def _judge_metric(self, a: dict) -> None:
        from lstm_edge.runtime.budget import format_increase, metric_verdict
        from lstm_edge.runtime.harness.verify import metric_function

        metric = self.bundle.manifest["metric"]
        score = metric_function(metric, self.bundle)
        if score is None:
            pytest.skip(f"metric {metric['name']} is not available here: {metric.get('why', '')}")
        golden, got = self.golden(), self.obtained(a)
        case = metric["case"]
        target = golden[f"{case}.target"]
        value, parent = score(got[case]["y"], target), score(golden[f"{a['parent']}.{case}.y"], target)
        budget = a["budget"]["metric_increase"]
        verdict = metric_verdict(value, parent, metric.get("lower_is_better", True), budget)
        if not verdict["passed"]:
            self._write_obtained()
            pytest.fail(f"{a['stage']}::metric: {metric['name']} {value:.5f} is {format_increase(verdict['increase'])} "
                        f"worse than {a['parent']}'s golden {parent:.5f}; budget {format_increase(budget, 1)}", pytrace=False)

    # --- files ---------------------------------------------------------------------------------

    def _obtained_path(self) -> Path:
        base = self.golden_path or (self.bundle.root / "golden.npz")
        return base.with_name(base.stem + ".obtained.npz")

    def _write_obtained(self) -> None:
        """What the artefacts computed this session, in the golden file's layout (inputs, target and PyTorch kept)."""
        stages = tuple(a["stage"] + "." for a in self.bundle.artifacts)
        arrays = {k: v for k, v in self.golden().items() if not k.startswith(stages)}
        for a in self.bundle.artifacts:
            if a["file"] in self._obtained:
                arrays |= self._stage_arrays(a, self._obtained[a["file"]], self.golden())
        _savez(self._obtained_path(), arrays)

    def _regenerate(self) -> None:
        if self._regenerated:
            return
        source = dict(self.bundle.golden)
        stages = tuple(a["stage"] + "." for a in self.bundle.artifacts)
        arrays = {k: v for k, v in source.items() if not k.startswith(stages)}
        for a in self.bundle.artifacts:
            arrays |= self._stage_arrays(a, self.obtained(a), source)
        self.golden_path.parent.mkdir(parents=True, exist_ok=True)
        _savez(self.golden_path, arrays)
        self._regenerated = True

    @staticmethod
    def _stage_arrays(a: dict, obtained: dict, like: dict) -> dict:
        """One stage's outputs as golden keys, cut as the golden file keeps them (the windows case: y's last step)."""
        from lstm_edge.runtime.harness.verify import aligned

        out = {}
        for case, outs in obtained.items():
            for name, v in outs.items():
                key = f"{a['stage']}.{case}.{name}"
                kept = like.get(key, like.get(f"pytorch.{case}.{name}"))
                out[key] = aligned(v, kept).astype(v.dtype) if kept is not None else v
        return out


def _worst(case: str, mine: np.ndarray, ref: np.ndarray, excess: np.ndarray, atol: float, rtol: float) -> str:
    over = np.nan_to_num(excess, nan=np.inf).ravel()
    order = np.argsort(over)[::-1][:WORST]
    lines = [f"  case '{case}': {int((over > 0).sum())} of {over.size} elements over budget; worst:"]
    for i in order:
        if over[i] <= 0:
            break
        idx = tuple(int(j) for j in np.unravel_index(i, mine.shape))
        lines.append(f"    at {idx}: obtained {mine[idx]:.8g}, golden {ref[idx]:.8g}, |Δ| {abs(mine[idx] - ref[idx]):.3g}, "
                     f"allowed {atol + rtol * abs(ref[idx]):.3g}")
    return "\n".join(lines)


def _savez(path: Path, arrays: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        np.savez_compressed(f, **arrays)
    tmp.replace(path)
