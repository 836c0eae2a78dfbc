"""A small ONNX speaker encoder built at test time, shaped as WeSpeaker's exports are: input
`feats` (batch, frames, 80 Kaldi filter banks), output `embs` (batch, size). It projects each
frame and averages the projections over time: no good at voices, but a real ONNX model for
`import-model` and the decoder's onnxruntime path to run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

SIZE = 32


def build_encoder(path: Path, *, bins: int = 80) -> Path:
    weights = np.random.default_rng(7).normal(scale=0.1, size=(bins, SIZE)).astype(np.float32)
    graph = helper.make_graph(
        [
            helper.make_node("MatMul", ["feats", "weights"], ["projected"]),
            helper.make_node("Tanh", ["projected"], ["bounded"]),
            helper.make_node("ReduceMean", ["bounded", "axes"], ["embs"], keepdims=0),
        ],
        "toy-speaker-encoder",
        [helper.make_tensor_value_info("feats", TensorProto.FLOAT, ["batch", "frames", bins])],
        [helper.make_tensor_value_info("embs", TensorProto.FLOAT, ["batch", SIZE])],
        initializer=[
            numpy_helper.from_array(weights, "weights"),
            numpy_helper.from_array(np.array([1], np.int64), "axes"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path
