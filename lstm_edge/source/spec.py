"""SpecSource: a model lstm-edge trained from a spec (DIR/model.json, model.safetensors, the
split npz files of lstm_edge/train/checkpoint.py), through the interface of lstm_edge/source."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.converters.recipes import RECIPES
from lstm_edge.model.spec import spec_from_dict
from lstm_edge.train.checkpoint import load_calibration, load_checkpoint, load_test_set, load_val_set


class SpecSource:
    kind = "spec"

    def __init__(self, directory: Path):
        from lstm_edge.tasks import task_for

        self.directory = Path(directory)
        self.tensors, self.meta = load_checkpoint(self.directory)      # hashes and shapes checked
        self.spec = spec_from_dict(self.meta["spec"], where=f"{self.directory / 'model.json'}: spec")
        self.dims = self.meta["dims"]
        self.name = self.meta["model"]
        self.task = task_for(self.spec, self.meta)
        self.weights_sha256 = self.meta["weights_sha256"]
        self.recipes = list(RECIPES)
        self._test = None

    def budget(self, parent: str, child: str):
        return self.spec.budget(parent, child)

    def provenance(self) -> dict:
        """What report.json records to make the run reproducible: seeds, the golden data's hash, the budget file."""
        from lstm_edge.verify.budget_lines import locate

        s = self.spec
        return {"seeds": {"data": s.data.seed, "train": s.train.seed, "parity": s.parity.seed},
                "golden": {"file": "test_set.npz", "sha256": self.meta.get("test_set_sha256")},
                "weights_sha256": self.weights_sha256,
                "budget_file": locate(self.meta.get("budget_file"), s.tolerance, s.streaming)}

    def torch_runner(self):
        from lstm_edge.model.network import TorchRunner, load_model

        return TorchRunner(load_model(self.tensors, self.dims))

    def reference_runner(self):
        from lstm_edge.model.reference import ReferenceRunner

        return ReferenceRunner.from_checkpoint(self.tensors, self.dims)

    def test_set(self) -> dict:
        if self._test is None:
            self._test = load_test_set(self.directory, self.meta)
        return self._test

    def val_set(self) -> dict:
        return load_val_set(self.directory, self.meta)

    def parity_cases(self) -> list:
        from lstm_edge.verify.parity import parity_cases

        return parity_cases(self.spec, self.dims, self.test_set()["x"])

    def zero_state(self, batch: int) -> dict:
        L, H = self.dims["num_layers"], self.dims["hidden_size"]
        return {"h0": np.zeros((L, batch, H), np.float32), "c0": np.zeros((L, batch, H), np.float32)}

    def zero_state_feeds(self, x: np.ndarray, lengths: np.ndarray | None = None) -> dict:
        """x with the zero state of its batch (rows on axis 0); lstm-edge's own models take no lengths."""
        return {"x": x} | self.zero_state(len(x))

    def calibration_feeds(self) -> list[dict]:
        """One feed per calibration window. Half start from zero state (as the test windows do), half
        from the state PyTorch reaches at the end of the previous window, so the quantizers also
        see realistic, non-zero h0/c0 ranges (streaming use)."""
        windows = load_calibration(self.directory, self.meta)
        feeds = [{"x": w[None]} | self.zero_state(1) for w in windows]
        carried = self.torch_runner().run({"x": windows} | self.zero_state(len(windows)))
        for k in range(1, len(windows), 2):
            feeds[k] = {"x": windows[k][None], "h0": np.ascontiguousarray(carried["hn"][:, k - 1:k]),
                        "c0": np.ascontiguousarray(carried["cn"][:, k - 1:k])}
        return feeds

    def build_tflite(self, recipe_name: str, options: dict, out: Path, feeds: list[dict]) -> dict:
        from lstm_edge.converters.quantize_tflite import build_tflite

        return build_tflite(recipe_name, options, self.tensors, self.dims, out, feeds)

    def check_streams(self, stages: list) -> list:
        from lstm_edge.data.windows import Normalization
        from lstm_edge.verify.streaming import check_streams

        norm = Normalization.from_dict(self.meta["normalization"])
        return check_streams(self.directory, self.spec, self.meta, norm, self.test_set()["x"], self.tensors, stages)

    def bundle_files(self) -> dict:
        return {}

    def golden_cases(self) -> dict:
        from lstm_edge.bundle.golden import golden_cases

        return golden_cases(self.spec, self.dims, self.test_set(), self.task)

    def manifest_fields(self) -> dict:
        """The bundle manifest's description of the model, its I/O and the metric the device scores."""
        meta, dims, spec = self.meta, self.dims, self.spec
        L, H, F, O = dims["num_layers"], dims["hidden_size"], dims["input_size"], dims["output_size"]
        return {
            "model": {"name": meta["model"], "description": spec.description, "weights_sha256": meta["weights_sha256"],
                      **{k: dims[k] for k in ("input_size", "hidden_size", "num_layers", "output_size")},
                      "features": meta["features"], "targets": meta["targets"], "normalization": meta["normalization"],
                      "window": spec.data.window, "horizon": spec.data.horizon,
                      "io": {"inputs": {"x": ["B", "T", F], "h0": [L, "B", H], "c0": [L, "B", H]},
                             "outputs": {"y": ["B", "T", O], "hn": [L, "B", H], "cn": [L, "B", H]},
                             "dtype": "float32"}},
            "spec": meta["spec"],
            "task": meta.get("task", {"name": "forecast"}),
            "metric": {"name": meta["test_metrics"]["metric"], "table": "task", "case": "windows",
                       "lower_is_better": meta["test_metrics"]["lower_is_better"],
                       "test_set": meta["test_metrics"]["value"]},
        }

    def io_contract(self) -> dict:
        """x and the states as lstm_edge/runtime/feeds.io_inputs makes them: lstm-edge's own contract."""
        L, H, vocab = self.dims["num_layers"], self.dims["hidden_size"], self.dims.get("vocab_size") or None
        return {"x_layout": "BTF", "x_dtype": "float32", "x_tail": [1 if vocab else self.dims["input_size"]],
                "vocab_size": vocab, "states": {"h0": [L, H], "c0": [L, H]}}

    def bench_dims(self) -> dict:
        return dict(self.dims)

    def flops_per_step(self) -> float:
        from lstm_edge.model.network import lstm_flops

        return lstm_flops(self.dims, 1)

