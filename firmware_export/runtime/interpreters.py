"""Run a ``.tflite`` in the two interpreters the parity ladder compares with.

``tflm_invoke``: the ``tflite-micro`` Python interpreter (TFLM's reference kernels, the
arithmetic the C engine reproduces). ``litert_invoke``: LiteRT (``ai_edge_litert``, the
optimised kernels of TensorFlow Lite).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["litert_invoke", "tflm_invoke"]


def tflm_invoke(tflite: bytes, q_in: ArrayLike) -> NDArray[np.int8]:
    """Run the ``tflite-micro`` interpreter on int8 rows, shape (n, d) -> (n, d_out)."""
    from tflite_micro.python.tflite_micro import runtime

    x = np.asarray(q_in, dtype=np.int8)
    interp = runtime.Interpreter.from_bytes(bytes(tflite))
    out = []
    for row in x:
        interp.set_input(row[None, :], 0)
        interp.invoke()
        out.append(np.array(interp.get_output(0)).reshape(-1))
    return np.asarray(out, dtype=np.int8).reshape(x.shape[0], -1)


def litert_invoke(tflite: bytes, q_in: ArrayLike) -> NDArray[np.int8]:
    """Run LiteRT (``ai_edge_litert``) on int8 rows, shape (n, d) -> (n, d_out)."""
    from ai_edge_litert.interpreter import Interpreter

    x = np.asarray(q_in, dtype=np.int8)
    interp = Interpreter(model_content=bytes(tflite))
    interp.allocate_tensors()
    i_in = interp.get_input_details()[0]["index"]
    i_out = interp.get_output_details()[0]["index"]
    out = []
    for row in x:
        interp.set_tensor(i_in, row[None, :])
        interp.invoke()
        out.append(np.array(interp.get_tensor(i_out)).reshape(-1))
    return np.asarray(out, dtype=np.int8).reshape(x.shape[0], -1)
