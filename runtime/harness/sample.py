"""Text from a character model (the charlm task), generated through an exported artefact.

Numpy and one runtime only, so it runs on the device as on the host. The prompt is fed in
one call from a zero state; then each sampled character is fed back one step at a time,
the state carried by a Stream. Ids enter as x (1, T, 1) float32 (see lstm_edge.tasks.charlm).

    text = sample_text(open_runner("onnx-fp32.onnx"), vocabulary, "The ", length=200)
"""
from __future__ import annotations

import numpy as np

from lstm_edge.errors import InvalidInputError


def encode(text: str, vocabulary: str) -> np.ndarray:
    """→ (1, len, 1) float32 ids; a character outside the vocabulary is named."""
    unknown = sorted(set(text) - set(vocabulary))
    if unknown:
        raise InvalidInputError(f"the prompt uses character(s) {''.join(unknown)!r} the model never saw",
                                hint="use characters of the training text")
    return np.array([vocabulary.index(c) for c in text], np.float32)[None, :, None]


def sample_text(runner, vocabulary: str, prompt: str, *, length: int = 200, temperature: float = 0.8,
                seed: int = 0) -> str:
    """`length` characters after `prompt`. temperature 0 takes the most likely character each step."""
    from lstm_edge.runtime.stream import Stream

    if not prompt:
        raise InvalidInputError("the prompt is empty", hint="give at least one character")
    rng = np.random.default_rng(seed)
    stream = Stream(runner)
    logits = stream.step(encode(prompt, vocabulary))[0, -1]            # (V,) after the whole prompt
    out = []
    for _ in range(length):
        k = pick(logits, temperature, rng)
        out.append(vocabulary[k])
        logits = stream.step(np.array([[k]], np.float32))[0]           # one step: x (1, 1) → y (1, V)
    return "".join(out)


def pick(logits: np.ndarray, temperature: float, rng) -> int:
    if temperature <= 0:
        return int(np.argmax(logits))
    z = logits.astype(np.float64) / temperature
    p = np.exp(z - z.max())
    return int(rng.choice(len(p), p=p / p.sum()))
