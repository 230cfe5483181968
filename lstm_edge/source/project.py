"""ProjectSource: a user's own module laid out by lstm_edge/project/prepare.py, through the
interface of lstm_edge/source.

Parity cases: "evaluation" (every evaluation row from the zero state: what the metric sees), then
the project's random grid (parity.batch_sizes × parity.lengths) and every grid batch at the
example's T (the only T an unrolled TFLite artefact takes), all in the module's own layout.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.errors import InvalidInputError
from lstm_edge.files import read_json, sha256_file

# recipes that apply to a user's module today (the step ones when it has a step artefact); the
# full-integer recipes need integer calibration of a user's architecture, which is not built yet
PROJECT_RECIPES = ("onnx-int8-dynamic", "onnx-int8-static", "onnx-fp16", "tflite-dynamic-range", "tflite-fp16",
                   "tflite-step-dynamic-range", "tflite-step-fp16")
CALIBRATION_ROWS = 256
GOLDEN_ROWS = 256          # evaluation rows the device scores (the bundle stays small)


class ProjectSource:
    kind = "project"

    def __init__(self, directory: Path):
        from lstm_edge.byo.recognise import architecture_from_dict
        from lstm_edge.project.file import project_from_dict
        from lstm_edge.project.task import ProjectTask

        self.directory = Path(directory)
        self.meta = read_json(self.directory / "model.json")
        for rel, want in self.meta["sha256"].items():       # every copied file, before anything is read
            path = self.directory / rel
            if not path.is_file() or sha256_file(path) != want:
                raise InvalidInputError(f"{path}: {'missing' if not path.is_file() else 'sha256 does not match model.json'}"
                                        ": the directory was changed after the pipeline wrote it",
                                        hint="run lstm-edge pipeline --project again")
        self.project = project_from_dict(self.meta["project"], root=self.directory,
                                         where=f"{self.directory / 'model.json'}: project")
        self.arch = architecture_from_dict(self.meta["architecture"])
        self.name = self.meta["model"]
        self.bx = 0 if self.arch.batch_first else 1
        self.task = ProjectTask(self.project, self.meta["y_batch_axis"])
        self.weights_sha256 = self.meta["sha256"]["model.safetensors"]
        from lstm_edge.converters.recipes import RECIPES

        self.recipes = [r for r in PROJECT_RECIPES if (self.directory / f"{RECIPES[r].parent}{RECIPES[r].suffix}").exists()]
        self._model = self._test = None

    def budget(self, parent: str, child: str):
        return self.project.budget(parent, child)

    def provenance(self) -> dict:
        """What report.json records to make the run reproducible: seeds, the golden data's hash, the budget file."""
        from lstm_edge.verify.budget_lines import locate

        return {"seeds": {"parity": self.project.parity.seed},
                "golden": {"file": "evaluation.npz", "sha256": self.meta["sha256"].get("evaluation.npz")},
                "weights_sha256": self.weights_sha256,
                "budget_file": locate(self.meta.get("budget_file"), self.project.tolerance, self.project.streaming)}

    def model(self):
        if self._model is None:
            from lstm_edge.project.prepare import load_user_module

            self._model = load_user_module(self.project)
        return self._model

    @property
    def vocab(self) -> int | None:
        if self.arch.input_kind != "embedding":
            return None
        return self.model().get_submodule(self.arch.input_layer).num_embeddings

    def torch_runner(self):
        from lstm_edge.byo.wrap import TorchModuleRunner

        return TorchModuleRunner(self.model(), self.arch, self.meta["inputs"], self.meta["outputs"])

    def reference_runner(self):
        return None             # the NumPy equations are lstm-edge's own model's; a user's module has none

    def test_set(self) -> dict:
        if self._test is None:
            from lstm_edge.runtime.sniff import read_npz

            self._test = read_npz(self.directory / "evaluation.npz")
        return self._test

    def val_set(self) -> dict:
        return self.test_set()

    def zero_state(self, batch: int) -> dict:
        from lstm_edge.byo.wrap import state_shapes

        return {k: np.zeros(s, np.float32) for k, s in state_shapes(self.arch, batch).items()}

    def parity_cases(self) -> list:
        from lstm_edge.byo.wrap import module_feeds
        from lstm_edge.verify.parity import Case

        x = self.test_set()["x"]
        cases = [Case("evaluation", self.zero_state_feeds(x, self.test_set().get("lengths")))]
        shape, grid = tuple(self.meta["example_shape"]), self.project.parity
        T = shape[1 - self.bx]
        pairs = [(b, t) for b in grid.batch_sizes for t in grid.lengths]
        pairs += [(b, T) for b in grid.batch_sizes if (b, T) not in pairs]
        for k, (b, t) in enumerate(pairs):
            cases.append(Case(f"random B={b} T={t}", module_feeds(self.arch, shape, self.vocab, b, t, grid.seed + k)))
        return cases

    def zero_state_feeds(self, x: np.ndarray, lengths: np.ndarray | None = None) -> dict:
        """x (the module's layout) with the zero state of its batch; for forward(x, lengths) the rows' lengths
        (every row's full T when none are given)."""
        feeds = {"x": x}
        if self.arch.lengths:
            feeds["lengths"] = lengths if lengths is not None else np.full(x.shape[self.bx], x.shape[1 - self.bx], np.int64)
        return feeds | self.zero_state(x.shape[self.bx])

    def calibration_feeds(self) -> list[dict]:
        """One row per feed (the first CALIBRATION_ROWS); as for a spec's model, every other row starts
        from the state PyTorch reaches at the end of the row before it, the rest from zero."""
        from lstm_edge.runtime.sniff import read_npz

        x = read_npz(self.directory / "calibration.npz")["x"]
        x = np.take(x, range(min(CALIBRATION_ROWS, x.shape[self.bx])), axis=self.bx)
        rows = [np.ascontiguousarray(np.take(x, [k], axis=self.bx)) for k in range(x.shape[self.bx])]
        feeds = [self.zero_state_feeds(r) for r in rows]
        carried = self.torch_runner().run(self.zero_state_feeds(x))
        for k in range(1, len(rows), 2):
            feeds[k] = {**feeds[k], **{s: np.ascontiguousarray(carried[s.replace("0", "n")][:, k - 1:k])
                                       for s in self.zero_state(1)}}
        return feeds

    def build_tflite(self, recipe_name: str, options: dict, out: Path, feeds: list[dict]) -> dict:
        """A weight-quantization recipe of the user's TFLite artefact: the same builder as its fp32
        parent (lstm_edge/byo/to_tflite.py), the converter told to quantize."""
        from lstm_edge.byo import to_tflite
        from lstm_edge.converters.quantize_tflite import weight_bytes

        from lstm_edge.converters.recipes import RECIPES

        def setup(c, tf):
            c.optimizations = [tf.lite.Optimize.DEFAULT]
            if RECIPES[recipe_name].precision == "fp16-weights":     # tflite-fp16 and tflite-step-fp16
                c.target_spec.supported_types = [tf.float16]

        if recipe_name not in PROJECT_RECIPES or recipe_name.startswith("onnx"):
            raise InvalidInputError(f"{recipe_name} does not apply to a user's module yet")
        model = self.model()
        if recipe_name.startswith("tflite-step-"):          # the step graph, weights quantized
            from lstm_edge.byo.step import build_step

            build_step(model, self.arch, tuple(self.meta["example_shape"]), out, setup=setup)
            return {"runtimes": ["litert"], "streaming": True, "chunk": 1, "weight_bytes_by_dtype": weight_bytes(out)}
        route, _, fixups = to_tflite.build(self.arch, model, tuple(self.meta["example_shape"]), self.vocab is not None,
                                           out, setup=setup, any_t=self.project.module.tflite_time == "any")
        return {"runtimes": ["litert"], "path_taken": route, "converter_fixups": fixups or [],
                "weight_bytes_by_dtype": weight_bytes(out)}

    def check_streams(self, stages: list) -> list:
        """Equivalence and drift (lstm_edge/verify/streaming.py) over one long stream of the evaluation rows
        one after another, for every artefact that returns its state, when the module can stream."""
        from lstm_edge.byo.step import why_not_streamable
        from lstm_edge.runtime import open_runner
        from lstm_edge.verify.streaming import check_stream, precision_class

        if why_not_streamable(self.arch) or not self.meta.get("streaming", {}).get("step_artifact"):
            return []
        st = self.project.streaming
        x = self.test_set()["x"]                                   # (N, T, …) batch-first
        flat = x.reshape(1, -1, *x.shape[2:])
        flat = np.ascontiguousarray(np.tile(flat, (1, st.length // flat.shape[1] + 1) + (1,) * (x.ndim - 2))[:, :st.length])
        stepper, zero = self._stepper()
        torch_run = self._torch_stream(stepper, zero, flat, st.horizons)
        results = []
        for s in stages:
            carries = s.info.get("streaming") or (self.arch.form != "graph" and all(
                n.replace("0", "n") in s.outputs for n in zero))     # a graph's sequence artefacts start from zero
            if s.artifact is None or s.info.get("isolate") or s.info.get("fixed_time_steps") or not carries:
                continue                                           # isolated: a child per call; unrolled: one T
            runner = open_runner(self.directory / s.artifact)
            twin = self.directory / "onnx-fp32.onnx"               # the whole-sequence twin of a step artefact
            whole = runner if not s.info.get("chunk") else open_runner(twin) if twin.exists() else None
            results.append(check_stream(s.name, precision_class(s.precision), runner, whole, flat, torch_run, st,
                                        self.zero_state(1)))
        return results

    def _stepper(self):
        """PyTorch with the step artefact's state I/O, and the zero state of one stream: the module's own
        (h0, c0) for the single form, every layer's state packed for a traced graph (lstm_edge/graph/step.py)."""
        if self.arch.form != "graph":
            return self.torch_runner(), self.zero_state(1)
        from lstm_edge.graph import step

        return step.TorchStep(self.model(), self.arch), {k: np.zeros(v, np.float32)
                                                         for k, v in step.state_shapes(self.arch, 1).items()}

    @staticmethod
    def _torch_stream(runner, state: dict, x: np.ndarray, horizons) -> dict:
        """PyTorch stepped one step per call with the state carried: y at every step, the state at each horizon."""
        ys, states = [], {}
        for t in range(x.shape[1]):
            out = runner.run({"x": np.ascontiguousarray(x[:, t:t + 1])} | state)
            state = {k: out[k.replace("0", "n")] for k in state}
            ys.append(out["y"].reshape(1, -1))
            if t + 1 in horizons:
                states[t + 1] = tuple(state.values())
        return {"y": np.stack(ys, axis=1).astype(np.float64), "states": states}

    def golden_cases(self) -> dict:
        """"windows": the evaluation set from the zero state, with its y as the metric's target (the first
        GOLDEN_ROWS rows); "state": the largest random-state case at the example's T."""
        ev = self.test_set()
        rows = min(GOLDEN_ROWS, ev["x"].shape[self.bx])
        x = np.ascontiguousarray(np.take(ev["x"], range(rows), axis=self.bx))
        lengths = ev["lengths"][:rows] if "lengths" in ev else None
        y_true = np.ascontiguousarray(np.take(ev["y"], range(rows), axis=self.task.y_batch_axis))
        T = self.meta["example_shape"][1 - self.bx]
        at_t = [c for c in self.parity_cases()[1:] if c.feeds["x"].shape[1 - self.bx] == T]
        state = max(at_t, key=lambda c: c.feeds["x"].shape[self.bx]).feeds
        return {"windows": self.zero_state_feeds(x, lengths) | {"target": y_true}, "state": dict(state)}

    def manifest_fields(self) -> dict:
        from lstm_edge.byo.wrap import state_shapes

        a, shape = self.arch, self.meta["example_shape"]
        x_axes = ["B", "T"] if a.batch_first else ["T", "B"]
        states = {k: [s[0], "B", s[2]] for k, s in state_shapes(a, 1).items()}
        m = self.project.metric
        return {
            "model": {"name": self.name, "description": self.project.description, "weights_sha256": self.weights_sha256,
                      "kind": "project", "architecture": self.meta["architecture"]["description"],
                      "io": {"inputs": {"x": x_axes + list(shape[2:])} | states,
                             "outputs": {"y": "as forward() returns it", **{k.replace("0", "n"): v for k, v in states.items()}},
                             "dtype": "int64 token ids" if a.input_kind == "embedding" else "float32"}},
            "task": {"name": "user", "project": self.project.to_dict()},
            "metric": {"name": self.task.metric, "table": "builtin" if m.name else "user", "case": "windows",
                       "lower_is_better": self.task.lower_is_better} | self._device_metric(),
        }

    def _device_metric(self) -> dict:
        """A user's metric function travels as metric.py if it imports nothing beyond numpy and the
        standard library (the device has no torch); otherwise the device cannot score it."""
        if self.project.metric.name:
            return {}
        why = metric_not_portable(self.metric_file())
        return {"available": False, "why": why} if why else {"file": "metric.py",
                                                              "function": self.project.metric.function.rpartition(":")[2]}

    def metric_file(self) -> Path | None:
        return self.project.path(self.project.metric.function.rpartition(":")[0]) if self.project.metric.function else None

    def bundle_files(self) -> dict[str, Path]:
        """Files the bundle carries beside the artefacts: a portable metric function."""
        return {"metric.py": self.metric_file()} if self._device_metric().get("file") else {}


    def io_contract(self) -> dict:
        """x in the module's own layout and dtype, its states (L·D, B, H): for lstm_edge/runtime/feeds.io_inputs."""
        from lstm_edge.byo.wrap import state_shapes

        ids = self.arch.input_kind == "embedding"
        return {"x_layout": ("BT" if self.arch.batch_first else "TB") + ("" if ids else "F"),
                "x_dtype": "int64" if ids else "float32", "x_tail": list(self.meta["example_shape"][2:]),
                "vocab_size": self.vocab, "states": {k: [s[0], s[2]] for k, s in state_shapes(self.arch, 1).items()},
                "lengths": bool(self.arch.lengths)}

    def bench_dims(self) -> dict:
        a = self.arch
        return {"input_size": (self.meta["example_shape"][2:] or [1])[0], "hidden_size": a.hidden_size,
                "num_layers": a.num_layers, "directions": a.directions, "cell": a.kind,
                "gates": 4 if a.kind == "LSTM" else 3, "output_size": None}

    def flops_per_step(self) -> float:
        """2 × every weight matrix's elements (a multiply-add each per step), embeddings left out (a lookup);
        for lstm-edge's own model this is exactly lstm_edge/model/network.lstm_flops."""
        model = self.model()
        embeddings = {f"{n}.weight" for n, m in model.named_modules() if type(m).__name__ == "Embedding"}
        return float(sum(2 * v.numel() for k, v in model.state_dict().items() if v.ndim == 2 and k not in embeddings))


def metric_not_portable(path: Path) -> str:
    """Why the metric file cannot run on a device with numpy and the standard library only ("" if it can)."""
    import ast
    import sys

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    allowed = set(sys.stdlib_module_names) | {"numpy"}
    for node in ast.walk(tree):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or "."] if isinstance(node, ast.ImportFrom) and not node.level else
                 ["." * node.level] if isinstance(node, ast.ImportFrom) else [])
        bad = [n for n in names if n.split(".")[0] not in allowed]
        if bad:
            return f"{path.name} imports {bad[0]}, and the device has numpy and the standard library only"
    return ""
