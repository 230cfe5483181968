"""TensorFlow with Keras 2, and its fd-2 chatter kept off the console.

Only Keras 2 (tf-keras, TF_USE_LEGACY_KERAS=1 set before TensorFlow is first imported) converts
an LSTM layer into the fused TFLite op; Keras 3 gives a WHILE loop (converters/to_tflite.py).
"""
from __future__ import annotations

import os
import sys

from lstm_edge.errors import EnvironmentFault


def import_tensorflow():
    """TensorFlow with Keras 2; refuses to continue if TF was already imported with Keras 3."""
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise EnvironmentFault("tensorflow was imported before lstm-edge could select Keras 2 (tf-keras)",
                               hint="set TF_USE_LEGACY_KERAS=1 in the environment, or import lstm-edge first")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():   # TF's C++ start-up chatter (oneDNN, CUDA probe) bypasses every log setting
        import tensorflow as tf
        import tf_keras as keras
    tf.get_logger().setLevel("ERROR")
    return tf, keras


class quiet_stderr:
    """Send fd 2 to a temporary file for the block; replay it if the block raises."""

    def __enter__(self):
        import tempfile

        sys.stderr.flush()
        self.saved, self.tmp = os.dup(2), tempfile.TemporaryFile()
        os.dup2(self.tmp.fileno(), 2)

    def __exit__(self, exc_type, *rest):
        sys.stderr.flush()
        os.dup2(self.saved, 2)
        os.close(self.saved)
        if exc_type is not None:
            self.tmp.seek(0)
            sys.stderr.write(self.tmp.read().decode(errors="replace"))
        self.tmp.close()
