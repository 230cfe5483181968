"""Model specs: the shipped ones load; typos, wrong types and impossible sizes are exit 3 naming the key."""
from pathlib import Path

import pytest

from lstm_edge.errors import InvalidInputError
from lstm_edge.model.spec import load_spec, spec_from_dict

MODELS = sorted(Path(__file__).parent.parent.joinpath("models").glob("*.toml"))


# fp32 budgets are 1e-5, except where a spec documents a measured reason (gesture: PyTorch itself
# is 9.8e-6 from the float64 equations on that model); pinned, so no budget drifts silently.
FP32_BUDGET = {"gesture": 5e-5}


@pytest.mark.parametrize("path", MODELS, ids=lambda p: p.stem)
def test_shipped_specs_load_with_every_budget(path):
    spec = load_spec(path)
    for child in ("numpy-reference", "onnx-fp32", "tflite-fp32", "tflite-step-fp32"):
        assert spec.budget("pytorch", child).atol == FP32_BUDGET.get(path.stem, 1e-5)
        assert spec.budget("pytorch", child).rtol == FP32_BUDGET.get(path.stem, 1e-5)


BAD = [
    ({"name": "x", "modle": {}}, "unknown key(s) 'modle'"),
    ({"name": "x", "model": {"hidden_sise": 3}}, "model: unknown key(s) 'hidden_sise'"),
    ({"name": "x", "model": {"hidden_size": "64"}}, "model: hidden_size: expected int, got str"),
    ({"name": "x", "model": {"num_layers": True}}, "num_layers: expected int, got bool"),
    ({"name": "x", "model": {"hidden_size": 0}}, "model.hidden_size must be > 0"),
    ({"name": "x", "model": {"hidden_size": 100000}}, "not supported"),
    ({"name": "x", "data": {"split": [0.5, 0.5]}}, "data.split must be three positive fractions"),
    ({"name": "x", "data": {"targets": "load"}}, "data: targets: expected a list"),
    ({"name": "x", "data": {"source": "s3"}}, "data.source must be one of sensor, csv, adding, gesture, text"),
    ({"name": "x", "train": {"warmup_steps": 100}}, "must be < data.window"),
    ({"name": "x", "tolerance": [{"parent": "pytorch", "child": "onnx-fp32", "atol": -1.0, "rtol": 0}]}, "must be >= 0"),
    ({"name": "x", "tolerance": [{"parent": "pytorch", "child": "onnx-fp32"}]}, "no budget"),
    ({"name": "x", "tolerance": [{"parent": "pytorch", "child": "onnx-fp32", "atol": 1e-5}]}, "atol and rtol together"),
    ({"name": "x", "tolerance": [{"parent": "a", "child": "b", "metric_increase": "2%"}]}, "expected float, got str"),
    ({"model": {}}, "missing key(s) 'name'"),
]


@pytest.mark.parametrize("raw,message", BAD, ids=[m for _, m in BAD])
def test_bad_spec_names_the_key(raw, message):
    with pytest.raises(InvalidInputError) as e:
        spec_from_dict(raw)
    assert e.value.exit_code == 3 and message in str(e.value), str(e.value)


def test_a_missing_budget_is_an_error_not_a_pass():
    spec = spec_from_dict({"name": "x"})
    with pytest.raises(InvalidInputError, match="no tolerance for stage 'onnx-fp32'"):
        spec.budget("pytorch", "onnx-fp32")


def test_invalid_toml_and_missing_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = \n")
    with pytest.raises(InvalidInputError, match="not valid TOML"):
        load_spec(bad)
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_spec(tmp_path / "nope.toml")
