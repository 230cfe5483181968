"""Parity of one stage against its parent, over the test windows and the random grid.

Cases: "test-windows" (every test window, zero initial state: what the task metric sees)
and "random B=b T=t" for the spec's grid (inputs ~ N(0, 1), h0 ∈ U(−1, 1), c0 ~ N(0, 1)),
so parity is shown on the real data and away from it, short and long.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lstm_edge.runtime.feeds import contract_inputs
from lstm_edge.verify.compare import Comparison, compare
from lstm_edge.model.spec import Spec, Tolerance


@dataclass
class Case:
    name: str
    feeds: dict[str, np.ndarray]


def parity_cases(spec: Spec, dims: dict, test_x: np.ndarray) -> list[Case]:
    L, H = dims["num_layers"], dims["hidden_size"]
    zeros = np.zeros((L, len(test_x), H), np.float32)
    cases = [Case("test-windows", {"x": test_x.astype(np.float32), "h0": zeros, "c0": zeros.copy()})]
    rng = np.random.default_rng(spec.parity.seed)
    for b in spec.parity.batch_sizes:
        for t in spec.parity.lengths:
            cases.append(Case(f"random B={b} T={t}", contract_inputs(rng, dims, b, t)))
    return cases


# what report.json keeps of an artefact's sidecar and runner facts (report.md renders them; --recheck needs them)
REPORTED_INFO = ("recipe", "recipe_summary", "ops", "note", "int8_ops", "batch_resizable", "attempts", "size_ratio",
                 "fixed_time_steps", "runtimes")


@dataclass
class StageResult:
    name: str
    parent: str
    format: str
    precision: str
    artifact: str | None
    size_bytes: int | None
    budget: Tolerance
    outputs: tuple[str, ...]                  # the outputs compared
    missing_outputs: dict[str, str]           # output → why this format cannot expose it
    comparisons: list[Comparison] = field(default_factory=list)
    metrics: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)               # the artefact's sidecar
    vs_pytorch: list[Comparison] = field(default_factory=list)   # recorded for derived stages
    metric_check: dict | None = None                        # task budget against the parent

    @property
    def passed(self) -> bool:
        if not self.parent:   # the root (pytorch) is judged on its task: it must beat the baseline
            return bool(self.metrics.get("beats_baseline"))
        metric_ok = self.metric_check is None or self.metric_check["passed"]
        return bool(self.comparisons) and all(self.comparisons) and metric_ok

    def judge_metric(self, parent_metrics: dict) -> None:
        """Task budget: the test metric may get worse by at most budget.metric_increase (relative)
        than the parent's — a rise for MAE, MSE or bits/char, a fall for accuracy."""
        if self.budget.metric_increase is None:
            return
        from lstm_edge.runtime.budget import metric_verdict

        self.metric_check = {"metric": self.metrics["metric"]} | metric_verdict(
            self.metrics["value"], parent_metrics["value"], self.metrics["lower_is_better"], self.budget.metric_increase)

    def worst(self) -> dict[str, dict]:
        """Per output, the figures of the case where it was worst (largest max abs), its budget and verdict
        over every case, and the points that decide any other budget over every case (merged envelopes)."""
        out = {}
        for c in self.comparisons:
            for o in c.outputs:
                if o.output not in out or o.max_abs > out[o.output]["max_abs"]:
                    out[o.output] = {"case": c.case, "max_abs": o.max_abs, "max_rel": o.max_rel,
                                     "mean_abs": o.mean_abs, "rmse": o.rmse, "cosine": o.cosine,
                                     "worst_index": o.worst_index, "worst_value": o.worst_value,
                                     "worst_reference": o.worst_reference}
        for o in out:
            diffs = [d for c in self.comparisons for d in c.outputs if d.output == o]
            out[o]["passed"] = all(d.passed for d in diffs)
            out[o]["budget"] = {"atol": self.budget.atol, "rtol": self.budget.rtol}
            out[o]["envelope"] = merged_envelope([d.envelope for d in diffs])
        return out

    def to_dict(self) -> dict:
        worst = self.worst()
        return {
            "name": self.name, "parent": self.parent, "format": self.format, "precision": self.precision,
            "artifact": self.artifact, "size_bytes": self.size_bytes,
            "max_abs": max((w["max_abs"] for w in worst.values()), default=None),
            "max_rel": max((w["max_rel"] for w in worst.values()), default=None),
            "budget": {"atol": self.budget.atol, "rtol": self.budget.rtol,
                       "metric_increase": self.budget.metric_increase},
            "metrics": self.metrics, "metric_check": self.metric_check, "passed": self.passed, "outputs": worst,
            "recipe": self.info.get("recipe"), "size_ratio": self.info.get("size_ratio"),
            "vs_pytorch": {o.output: {"max_abs": o.max_abs, "mean_abs": o.mean_abs, "snr_db": o.snr_db}
                           for c in self.vs_pytorch[:1] for o in c.outputs},
            "vs_pytorch_cases": [c.to_dict() for c in self.vs_pytorch],
            "missing_outputs": self.missing_outputs,
            "cases": [c.to_dict() for c in self.comparisons],
            "info": {k: self.info[k] for k in REPORTED_INFO if k in self.info},
        }


def merged_envelope(envelopes: list) -> list | None:
    """One output's deciding points over several cases (None if any case had a non-finite value)."""
    if any(e is None for e in envelopes):
        return None
    from lstm_edge.runtime.budget import hull

    return hull(np.array([p for e in envelopes for p in e], np.float64).reshape(-1, 2))


def check_stage(stage: StageResult, runner, cases: list[Case], parent_outputs: list[dict],
                torch_outputs: list[dict] | None = None) -> list[dict]:
    """Run `runner` on every case and compare with the parent's outputs on the same case
    (and, for derived stages, record the figures against PyTorch too). → the runner's outputs, None
    for a case the artefact does not take (another T than the one it was unrolled at)."""
    outputs = []
    for k, (case, ref) in enumerate(zip(cases, parent_outputs)):
        if ref is None or not takes(runner, case):    # an unrolled artefact (or its parent) takes one T only
            outputs.append(None)
            continue
        got = runner.run(case.feeds)
        outputs.append(got)
        stage.comparisons.append(compare(got, ref, stage=stage.name, parent=stage.parent, case=case.name,
                                         atol=stage.budget.atol, rtol=stage.budget.rtol, outputs=stage.outputs))
        if torch_outputs is not None:
            stage.vs_pytorch.append(compare(got, torch_outputs[k], stage=stage.name, parent="pytorch", case=case.name,
                                            atol=None, rtol=None, outputs=stage.outputs))
    return outputs


def takes(runner, case: Case) -> bool:
    """Whether the artefact takes this case's T: any T, or exactly the sidecar's "fixed_time_steps"."""
    fixed = runner.info.get("fixed_time_steps")
    if fixed is None:
        return True
    time_axis = runner.info.get("x_layout", "BTF").index("T")     # a time-major module's x is (T, B, …)
    return case.feeds["x"].shape[time_axis] == fixed
