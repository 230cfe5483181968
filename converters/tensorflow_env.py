"""TensorFlow with Keras 2, and its fd-2 chatter kept off the console.

Only Keras 2 (tf-keras, TF_USE_LEGACY_KERAS=1 set before TensorFlow is first imported) converts
an LSTM layer into the fused TFLite op; Keras 3 gives a WHILE loop (converters/to_tflite.py).
`quiet_stderr` lives in lstm_edge/console_log.py beside the command log it defers to: one way
of moving fd 2, not two.
"""
from __future__ import annotations

import os
import sys

from lstm_edge.console_log import quiet_stderr
from lstm_edge.errors import EnvironmentFault

__all__ = ["import_tensorflow", "quiet_stderr"]   # quiet_stderr: the converters import it from here


def import_tensorflow():
    """TensorFlow with Keras 2; refuses to continue if TF was already imported with Keras 3."""
    if "tensorflow" in sys.modules and os.environ.get("TF_USE_LEGACY_KERAS") != "1":
        raise EnvironmentFault("tensorflow was imported before lstm-edge could select Keras 2 (tf-keras)",
                               hint="set TF_USE_LEGACY_KERAS=1 in the environment, or import lstm-edge first")
    os.environ["TF_USE_LEGACY_KERAS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    with quiet_stderr():   # TF's C++ start-up chatter (oneDNN, CUDA probe) bypasses every log setting;
                           # in a command it goes to the command's log instead
        import tensorflow as tf
        import tf_keras as keras
    tf.get_logger().setLevel("ERROR")
    return tf, keras
