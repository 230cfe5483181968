"""A character-level language model trained on text shipped in the repo (its own documentation).

The corpus (lstm_edge/data/corpus/lstm-edge-docs.txt, or any UTF-8 text given with --data)
is split by position: the first 90 % trains, then 5 % validates and 5 % tests, so the test
text was never seen. Windows of T characters predict the next character at every step.

Input: the model contract's x (B, T, 1) float32 holds each character's id; the model clips
it to [0, V − 1], casts it to an integer and looks it up in an nn.Embedding (ONNX: Clip,
Cast, Gather; TFLite: the same builtins). Ids below 2^24 are exact in float32, and keeping x
float keeps one contract for every runner, stream, quantizer and the device harness.
Output: y (B, T, V) next-character logits.

Metric: bits per character on the test text (cross-entropy in base 2, every step of every
test window); baseline: the unigram model of the training text, which must be beaten.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

import numpy as np

from lstm_edge.errors import InvalidInputError
from lstm_edge.tasks.base import SequenceTask, Examples, TaskData, generic, identity_normalization

def read_corpus(name: str, path: Path | None = None) -> tuple[str, str]:
    """→ (text, where it came from). The shipped corpus by name, or a user's file."""
    if path is not None:
        try:
            return Path(path).read_text(encoding="utf-8"), str(path)
        except UnicodeDecodeError as e:
            raise InvalidInputError(f"{path} is not UTF-8 text: {e}")
        except FileNotFoundError:
            raise InvalidInputError(f"{path} does not exist")
    ref = resources.files("lstm_edge.data").joinpath("corpus", f"{name}.txt")
    if not ref.is_file():
        raise InvalidInputError(f"no shipped corpus '{name}'", hint="use data.corpus = \"lstm-edge-docs\" or --data FILE.txt")
    return ref.read_text(encoding="utf-8"), f"corpus {name}"


def windows(ids: np.ndarray, length: int, stride: int) -> Examples:
    """x (N, T, 1) float32 ids at s … s+T−1; y (N, T) int64 the next ids, s+1 … s+T."""
    starts = np.arange(0, len(ids) - length - 1, stride)
    steps = starts[:, None] + np.arange(length)[None, :]
    return Examples(ids[steps][:, :, None].astype(np.float32), ids[steps + 1].astype(np.int64))


def log_softmax(z: np.ndarray) -> np.ndarray:
    z = z.astype(np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


class CharLMTask(SequenceTask):
    name = "charlm"
    metric = "bits_per_char"
    lower_is_better = True
    scored_steps = "all"

    @property
    def vocabulary(self) -> str:
        return self.meta["task"]["vocabulary"]

    def load(self, csv: Path | None = None, **_) -> TaskData:
        d = self.spec.data
        text, where = read_corpus(d.corpus, csv)
        vocab = "".join(sorted(set(text)))
        ids = np.array([vocab.index(c) for c in text], np.int64) if len(vocab) < 256 else None
        if ids is None:
            raise InvalidInputError(f"{where} uses {len(vocab)} distinct characters; at most 255 are supported")
        n = len(ids)
        cut = np.cumsum([0] + [int(round(f * n)) for f in d.split[:-1]] + [0])
        cut[-1] = n
        need = 2 * d.window + 2
        for name, a, b in zip(("train", "validation", "test"), cut[:-1], cut[1:]):
            if b - a < need:
                raise InvalidInputError(f"{where}: the {name} part has {b - a} characters, fewer than {need}",
                                        hint="use a longer text or a smaller data.window")
        parts = [windows(ids[a:b], d.window, d.window // 2 if k == 0 else d.window)
                 for k, (a, b) in enumerate(zip(cut[:-1], cut[1:]))]
        unigram = np.bincount(ids[cut[0]:cut[1]], minlength=len(vocab)) + 1.0      # add-one smoothing
        self.meta = {"task": {"vocabulary": vocab, "unigram_log2": np.log2(unigram / unigram.sum()).tolist()}}
        return TaskData(*parts, ("char_id",), tuple(f"logit_{ord(c)}" for c in vocab),
                        identity_normalization(("char_id",)), f"{where} ({n} characters)",
                        {"vocabulary": vocab, "unigram_log2": self.meta["task"]["unigram_log2"], "characters": n})

    def loss(self, out, y):
        import torch

        return torch.nn.functional.cross_entropy(out.reshape(-1, out.shape[-1]), y.reshape(-1))

    def score(self, y: np.ndarray, ev: dict) -> dict:
        truth = ev["truth"].astype(np.int64)                                       # (N, T)
        logp = np.take_along_axis(log_softmax(y), truth[..., None], axis=-1)[..., 0]
        bits = float(-logp.mean() / np.log(2))
        unigram = -float(np.asarray(self.meta["task"]["unigram_log2"])[truth].mean())
        acc = float(np.mean(np.argmax(y, axis=-1) == truth))
        return generic(self.metric, bits, True, "unigram", unigram, bits < unigram,
                       f"test {bits:.3f} bits/char vs {unigram:.3f} for the unigram model; "
                       f"next-character accuracy {acc:.3f} over {truth.size} characters",
                       characters=int(truth.size), next_char_accuracy=acc, perplexity=float(2 ** bits))
