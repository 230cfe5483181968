"""The streaming step artefact of a user's module: one time step per call, state in and state out.

    tflite-step-fp32.tflite    x (B, 1, …), h0[, c0] (L·D, B, H) → y, hn[, cn]     builtin ops, any batch

(A traced graph of several layers, lstm_edge/graph: its own step builder, graph/step.py, every layer's
state packed into h0/c0; checked here the same way.)

It is the general TFLite builder (to_tflite.general: FULLY_CONNECTED, LOGISTIC, TANH, MUL, ADD …, no
loop, no Flex) at T = 1, so one builder serves the GRU, the projected LSTM, an embedding or linear
input layer in front and the plain LSTM alike; a Stream (runtime/stream.py) carries its state across
calls, and verify steps it through every parity case and a 10 000-step stream. What cannot stream is
refused with the reason: a bidirectional layer (its backward direction needs the future), a head
over the mean of all steps, a time-major module (a stream is fed batch-first chunks).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from lstm_edge.errors import ConversionError
from lstm_edge.files import write_sidecar

STEP = "tflite-step-fp32.tflite"


def why_not_streamable(arch) -> str | None:
    if _graph(arch):
        return arch.why_not_streaming              # measured when it was traced (graph/step.why_not)
    if getattr(arch, "lengths", False):
        return "forward(x, lengths) takes a padded batch of whole sequences; a stream has no lengths"
    if arch.bidirectional:
        return "a bidirectional layer's backward direction needs the whole sequence before its first output"
    if arch.head_kind == "mean":
        return "the head reads the mean over every step, which a single step cannot give"
    if not arch.batch_first:
        return "a time-major module (batch_first=False): a stream is fed batch-first chunks"
    return None


def _graph(arch) -> bool:
    return getattr(arch, "form", "single") == "graph"


def build_step(model, arch, example_shape: tuple, out: Path, *, setup=None) -> None:
    """The step graph at T = 1 (`setup`: a recipe's converter options)."""
    from lstm_edge.byo import to_tflite
    from lstm_edge.byo.support import zero_biases

    if _graph(arch):
        from lstm_edge.graph import step

        return step.build(model, arch, example_shape, arch.input_kind == "embedding", out, setup=setup)
    sd = zero_biases(arch, model, {k: v.detach().numpy().astype(np.float32) for k, v in model.state_dict().items()})
    shape = (example_shape[0], 1, *example_shape[2:])
    to_tflite.general(arch, sd, shape, arch.input_kind == "embedding", out, setup=setup)


def export_step(model, arch, example_shape: tuple, y_axis: int, out: Path, say) -> dict:
    """Build, check against PyTorch (one step at B ∈ {1, 2, 7} from random states, and 50 steps stepped
    through a Stream from the zero state), and write the sidecar. A miss removes the file (ConversionError)."""
    from lstm_edge.byo.export import ATOL, RTOL, _x_keys
    from lstm_edge.runtime.budget import elements_within
    from lstm_edge.runtime.runner import open_runner
    from lstm_edge.runtime.stream import Stream

    why = why_not_streamable(arch)
    if why:
        raise ConversionError(str(out), [f"no step artefact: {why}"])
    inputs, outputs, torch, feeds = _reference(model, arch, example_shape)
    builder = "the traced graph, each recurrent layer one step" if _graph(arch) else "the general builder"
    say(f"TFLite step artefact: {builder} at T = 1 ({', '.join(inputs)} → {', '.join(outputs)})")
    build_step(model, arch, example_shape, out)
    info = {"kind": "artifact", "format": "tflite", "precision": "fp32", "parent": "pytorch", "path_taken": "step",
            "why": "one step per call with the state in and out: the streaming artefact", "chunk": 1,
            "streaming": True, "inputs": list(inputs), "outputs": list(outputs),
            "layout": _layout(arch),
            "runtimes": ["litert"]} | _x_keys(arch, model, y_axis)
    if _graph(arch):     # its whole sequences, like its parent's, start every layer from zero: x in, y out
        info["sequence_inputs"] = ["x"]
    write_sidecar(out, info)
    runner, failures, worst = open_runner(out), [], {}
    cases = {f"one step B={b}": feeds(b, 1, 3000 + b) for b in (1, 2, 7)}
    for case, f in cases.items():
        got, want = runner.run(f), torch.run(f)
        for k in outputs:
            worst[k] = max(worst.get(k, 0.0), float(np.abs(got[k] - want[k]).max()))
            if not elements_within(got[k], want[k], ATOL, RTOL):
                failures.append(f"{case}: '{k}' differs from PyTorch by {worst[k]:.3g}")
    seq = feeds(2, 50, 3100, zero=True)
    stream = Stream(runner, batch=2)
    y = stream.step(seq["x"])
    want = torch.run(seq)
    y = y[:, -1] if stream.answers_once else y
    worst["stepped y (50 steps)"] = float(np.abs(y - want["y"]).max())
    if not elements_within(y, want["y"], ATOL, RTOL):
        failures.append(f"50 steps stepped from the zero state: y differs from PyTorch by {worst['stepped y (50 steps)']:.3g}")
    if failures:
        out.unlink(missing_ok=True)
        out.with_name(out.name + ".json").unlink(missing_ok=True)
        raise ConversionError(str(out), failures[:8], hint="this is a converter bug; please report it")
    say("TFLite step parity: " + ", ".join(f"{k} {v:.1e}" for k, v in worst.items()))
    return write_sidecar(out, info | {"max_abs_vs_pytorch": worst, "parity_cases": list(cases) + ["50 steps stepped"]})


def _reference(model, arch, example_shape: tuple):
    """→ the step artefact's inputs, outputs, PyTorch as a Runner with the same state I/O, and
    feeds(batch, steps, seed, zero=False) of random inputs and states in that layout."""
    from lstm_edge.byo.wrap import TorchModuleRunner, module_feeds, names

    vocab = model.get_submodule(arch.input_layer).num_embeddings if arch.input_kind == "embedding" else None
    if not _graph(arch):
        inputs, outputs = names(arch)
        return inputs, outputs, TorchModuleRunner(model, arch, inputs, outputs), \
            lambda b, t, seed, zero=False: module_feeds(arch, example_shape, vocab, b, t, seed, zero=zero)
    from lstm_edge.graph import step
    from lstm_edge.runtime.feeds import random_inputs

    def feeds(b, t, seed, zero=False):
        return random_inputs(np.random.default_rng(seed), (b, t, *example_shape[2:]), step.state_shapes(arch, b),
                             vocab=vocab, ids_dtype=np.int64, zero_state=zero)

    return (*step.names(arch), step.TorchStep(model, arch), feeds)


def _layout(arch) -> str:
    if not _graph(arch):
        return arch.state_layout
    from lstm_edge.graph.step import describe_layout

    return describe_layout(arch)
