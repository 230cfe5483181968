"""Issue 22, points 2 and 3: a user's module is exported with parity (exit 0) or refused naming the
layer or forward() feature (exit 3) — never an internal error (exit 1) — and a failed export
leaves OUT as it was. The modules (byo_user_nets.py) are the shapes users write; the refusals are
decided by the inspector before any conversion, so their tests stay in the fast loop."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from lstm_edge.cli import app
from lstm_edge.errors import ConversionError, InvalidInputError, UsageError

NETS = Path(__file__).with_name("byo_user_nets.py")


@pytest.fixture(scope="module")
def users(tmp_path_factory):
    """byo_user_nets.py as a user's file (weights are saved beside it), and its classes in-process."""
    d = tmp_path_factory.mktemp("user")
    (d / "nets.py").write_text(NETS.read_text())
    scope = {}
    exec(compile(NETS.read_text(), str(NETS), "exec"), scope)
    return d, scope


def cli_export(users, cls: str, out, shape="2,7,4", fmt="all"):
    from safetensors.torch import save_file

    d, scope = users
    torch.manual_seed(0)
    weights = d / f"{cls}.safetensors"
    save_file(scope[cls]().state_dict(), str(weights))
    return CliRunner().invoke(app, ["export", str(out), "--module", f"{d / 'nets.py'}:{cls}", "--weights", str(weights),
                                    "--example-shape", shape, "--format", fmt])


def nothing_beside(out) -> list[str]:
    """What a failed export left: OUT itself, staging directories, the lock (OUT.log is the command's log)."""
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith((out.name, f".{out.name}"))
                  and p.name != f"{out.name}.log")


REFUSALS = [   # (class, example shape, what the message must name) — the list, and their neighbours
    ("StateRequired", "2,7,4", "forward() requires 'h0' (state argument)"),
    ("Masked", "2,7,4", "forward() requires 'mask' (lengths argument): not supported — a mask is not exported"),
    ("PackedFromX", "2,7,4", "packs the sequence given to 'lstm' (pack_padded_sequence)"),
    ("SqueezeAll", "2,7,4", "squeeze() without a dim"),
    ("SqueezeAll", "1,7,4", "squeeze() without a dim"),               # was StopIteration in _y_batch_axis
    ("StepLoop", "2,7,4", "calls the recurrent layer 'lstm' 7 times"),
    ("Dict", "2,7,4", "forward() returns dict, not a tensor"),
    ("SoftmaxOverBatch", "2,7,4", "layer 'sm': Softmax over dim 0"),
    ("MaxNorm", "2,7", "layer 'emb' (Embedding) with max_norm=1.0 is not supported"),
]


@pytest.mark.parametrize("cls, shape, names", REFUSALS, ids=[f"{c}-{s}" for c, s, _ in REFUSALS])
def test_refused_by_name_with_exit_3_and_no_output(users, tmp_path, cls, shape, names):
    out = tmp_path / "out"
    r = cli_export(users, cls, out, shape)
    assert r.exit_code == 3 and names in " ".join(r.output.split()), r.output
    assert "internal error" not in r.output and "converter bug" not in r.output
    assert nothing_beside(out) == [], nothing_beside(out)


def test_an_error_in_forward_is_the_users_exit_3(users, tmp_path):
    """A wrong feature count from Python (lstm_edge.export) is named by the first layer, as the CLI's
    --example-shape is: exit 3 before any work, not torch's "mat1 and mat2" as an internal error."""
    import lstm_edge

    _, scope = users
    with pytest.raises(InvalidInputError, match=r"the example of shape \(2, 7, 5\): the module's first layer `lstm` "
                                                r"\(nn.LSTM, input_size 4\) takes 4 features") as e:
        lstm_edge.export(scope["Plain"](), np.zeros((2, 7, 5), np.float32), tmp_path / "out")
    assert e.value.exit_code == 3 and nothing_beside(tmp_path / "out") == []


def test_no_staging_left_and_previous_out_unchanged_when_a_format_fails_late(users, tmp_path, monkeypatch):
    """ONNX written, then the TFLite step fails (any error, here a bug of ours): nothing is published;
    an earlier export in OUT stays byte-identical; no staging directory or lock is left beside it."""
    import lstm_edge
    from lstm_edge.byo import export as byo_export

    _, scope = users
    torch.manual_seed(0)
    net, x = scope["Plain"](), np.random.default_rng(0).standard_normal((2, 7, 4)).astype(np.float32)
    out = tmp_path / "out"

    def boom(*a, **k):
        assert (a[-2].parent / "model.onnx").is_file()        # really part-way: ONNX is in the staging directory
        raise RuntimeError("TFLite step failed")

    monkeypatch.setattr(byo_export, "_tflite", boom)
    with pytest.raises(RuntimeError):
        lstm_edge.export(net, x, out)
    assert nothing_beside(out) == []
    lstm_edge.export(net, x, out, formats=("onnx",))                # an earlier, complete export
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(RuntimeError):
        lstm_edge.export(net, x, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before and nothing_beside(out) == ["out"]


def test_a_refused_format_is_named_and_the_other_published(users, tmp_path, monkeypatch):
    """A format refused by name while the other is written: OUT gets the written one and the report
    naming the refusal at OUT's path. Any other error late in the run publishes nothing."""
    import json

    import lstm_edge
    from lstm_edge.byo import export as byo_export

    _, scope = users
    net, x, out = scope["Plain"](), np.zeros((2, 7, 4), np.float32), tmp_path / "out"
    monkeypatch.setattr(byo_export, "_tflite", lambda *a, **k: (_ for _ in ()).throw(
        ConversionError(str(a[-2]), ["no kernel for this"], hint="use ONNX")))
    report = lstm_edge.export(net, x, out)
    assert sorted(p.name for p in out.iterdir()) == ["byo-report.json", "model.onnx", "model.onnx.json"]
    reason = json.loads((out / "byo-report.json").read_text())["refused"][0]["reason"]
    assert reason.startswith(f"{out}/model.tflite: 1 check(s) failed") and report["refused"][0]["reason"] == reason
    monkeypatch.setattr(byo_export, "_tflite", lambda *a, **k: (_ for _ in ()).throw(
        InvalidInputError(f"{a[-2]}: cannot be read back", hint="look")))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    with pytest.raises(InvalidInputError) as e:
        lstm_edge.export(net, x, out)
    assert str(e.value) == f"{out}/model.tflite: cannot be read back\n  next step: look"
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


@pytest.mark.filterwarnings("ignore:LSTM with projections:UserWarning")   # torch: oneDNN has no proj_size
def test_every_format_refused_publishes_nothing(tmp_path):
    import lstm_edge
    from torch import nn

    class Projected(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(4, 6, proj_size=3, batch_first=True)

        def forward(self, x):
            return self.lstm(x)[0]

    with pytest.raises(ConversionError, match="ONNX's LSTM op has no projection") as e:
        lstm_edge.export(Projected(), np.zeros((2, 5, 4), np.float32), tmp_path / "out", formats=("onnx",))
    assert e.value.exit_code == 3 and "out is as it was" in str(e.value) and ".staging" not in str(e.value)
    assert nothing_beside(tmp_path / "out") == []


def test_a_directory_of_other_files_is_not_replaced(users, tmp_path):
    """OUT is replaced as a whole on success, so a directory the export did not write is refused
    before any work (`export .` would otherwise take the working directory with it)."""
    import lstm_edge

    (tmp_path / "notes.txt").write_text("mine")
    _, scope = users
    with pytest.raises(UsageError, match=r"already holds files an export did not write \(notes.txt\)"):
        lstm_edge.export(scope["Plain"](), np.zeros((2, 5, 4), np.float32), tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


# --- the one table: what the inspector accepts is what the builders map -------------------------

def table_modules():
    from torch import nn

    from lstm_edge.byo import support

    base = {"Softmax": {"dim": -1}}          # nn.Softmax() has an implicit dim: refused (see SoftmaxOverBatch)
    extra = {"GELU": {"approximate": "tanh"}, "LeakyReLU": {"negative_slope": 0.2}, "ELU": {"alpha": 0.5}}
    for name in support.ACTIVATIONS:
        for args in (base.get(name, {}), extra.get(name)):
            if args is not None:
                yield name, args, getattr(nn, name)(**args)


@pytest.mark.parametrize("name, args, module", list(table_modules()), ids=lambda v: str(v) if isinstance(v, str) else "")
def test_each_activation_row_recomputes_the_module_and_names_its_onnx_node(name, args, module, tmp_path):
    """The inspector's recomputation (torch) equals the module; the ONNX node the row names is the
    one torch.onnx writes for it (to_onnx.check_graph expects it)."""
    import io
    import warnings

    import onnx

    from lstm_edge.byo import support

    x = 3 * torch.randn(2, 5, 4)
    read = support.module_args(name, module, x.dim())
    assert {k: read[k] for k in args} == args
    assert torch.allclose(support.torch_apply(name, read, x), module(x), atol=1e-6)
    buf = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (x,), buf, dynamo=False, opset_version=17)
    ops = [n.op_type for n in onnx.load_from_string(buf.getvalue()).graph.node]
    assert support.onnx_op(name, read) in ops + [None], ops


@pytest.mark.slow   # imports TensorFlow
def test_each_row_maps_onto_tensorflow_as_the_module_computes():
    from lstm_edge.byo import support
    from lstm_edge.converters.tensorflow_env import import_tensorflow

    tf, _ = import_tensorflow()
    x = 3 * torch.randn(2, 5, 4)
    for name, _, module in table_modules():
        read = support.module_args(name, module, x.dim())
        got = support.tf_apply(tf, name, read, tf.constant(x.numpy())).numpy()
        assert np.allclose(got, module(x).detach().numpy(), atol=1e-6), name
    got = support.tf_apply(tf, "squeeze", {"dim": -1}, tf.zeros([2, 3, 1]))
    assert tuple(got.shape) == (2, 3)


def test_the_inspector_reads_args_and_post_ops_from_the_table(users):
    from torch import nn

    from lstm_edge.byo.inspect import inspect

    _, scope = users
    torch.manual_seed(0)
    a = inspect(scope["User"](act=nn.LeakyReLU(0.2), out=1, post=lambda y: torch.sigmoid(y).squeeze(-1)).eval(),
                torch.randn(2, 7, 4))
    assert (a.activations, a.activation_args) == (["LeakyReLU"], [{"negative_slope": 0.2}])
    assert (a.post, a.post_args) == (["Sigmoid", "squeeze"], [{}, {"dim": -1}])
    assert a.describe().endswith("last head, then Sigmoid → squeeze")
    with pytest.raises(InvalidInputError, match="requires 'h0'"):
        inspect(scope["StateRequired"](), torch.randn(2, 7, 4))
    assert inspect(scope["StateOptional"]().eval(), torch.randn(2, 7, 4)).post == ["Sigmoid", "squeeze"]


# --- supported: exported with parity, through the CLI (TensorFlow: slow) ------------------------

SUPPORTED = {   # byo_user_nets.py's supported classes → the TFLite path; each converts with TensorFlow (~15 s)
    "FusedBiasFree": ("fused", "2,7,4"),
    "GeneralGRU": ("general", "7,2,4"),       # time-major: (T, B, F)
    "MeanSoftmax": ("fused", "2,7,4"),
    "StateOptional": ("fused", "2,7,4"),      # forward(x, state=None); sigmoid, squeeze(-1)
    "Lengths": ("fused", "2,7,4"),            # forward(x, lengths) packs: ONNX sequence_lens (tests/test_lengths.py)
    "PackedOptional": ("fused", "2,7,4"),     # forward(x, lengths=None)
    "Doubled": ("graph", "2,7,4"),            # 2·y after the head: the single form refuses, the traced graph maps it
    "ScaledInput": ("graph", "2,7,4"),        # x·2 before the LSTM (tests/test_graph.py covers the graph form)
}


@pytest.mark.slow   # converts with TensorFlow
@pytest.mark.parametrize("cls", list(SUPPORTED))
def test_supported_case_exports_with_parity(users, tmp_path, cls):
    import json

    path, shape = SUPPORTED[cls]
    out = tmp_path / "out"
    r = cli_export(users, cls, out, shape)
    assert r.exit_code == 0, r.output
    report = json.loads((out / "byo-report.json").read_text())
    got = {a["format"]: a for a in report["artifacts"]}
    assert set(got) == {"onnx", "tflite"} and not report["refused"] and got["tflite"]["path_taken"] == path
    assert all(max(a["max_abs_vs_pytorch"].values()) <= 1e-5 for a in got.values()), got
