"""Read the constant tensors and the operator graph of a TensorFlow Lite file, without TensorFlow.

A ``.tflite`` file is a FlatBuffer (schema ``tensorflow/lite/schema/schema.fbs``); the ``tflite``
package holds the generated Python accessors. This module turns it into plain numpy: every
tensor with its name, shape, type and (for quantised weights) scales and zero points, and every
operator with its inputs and outputs, so a PyTorch port can take its weights from the file.

Quantised weights are dequantised as TensorFlow Lite's DEQUANTIZE op does:
``real = scale[c] * (q - zero_point[c])`` along ``quantized_dimension`` (one scale per tensor or
one per channel).

>>> graph = read_tflite("yamnet.tflite")                                      # doctest: +SKIP
>>> graph.tensor("yamnet_frames/dense/MatMul").dequantized().shape            # doctest: +SKIP
(521, 1024)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

__all__ = ["TFLiteTensor", "TFLiteOp", "TFLiteGraph", "read_tflite"]

# TensorType codes of schema.fbs that can hold weights.
_DTYPES = {0: np.float32, 1: np.float16, 2: np.int32, 3: np.uint8, 4: np.int64, 7: np.int16, 9: np.int8,
           10: np.float64}
_TYPE_NAMES = {0: "float32", 1: "float16", 2: "int32", 3: "uint8", 4: "int64", 6: "bool", 7: "int16",
               9: "int8", 10: "float64"}


@dataclass
class TFLiteTensor:
    """One tensor of the graph.

    Attributes:
        index: its position in the subgraph's tensor list.
        name: the converter's name (often several fused TensorFlow names joined by ``;``).
        shape: declared shape. ``dtype``: ``"float32"``, ``"int8"`` ...
        data: the constant's values reshaped to ``shape`` (``None`` for activations).
        scale, zero_point: quantisation parameters (``None`` when not quantised).
        quantized_dimension: the axis ``scale`` runs along when it has one value per channel.
    """

    index: int
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None = None
    scale: np.ndarray | None = None
    zero_point: np.ndarray | None = None
    quantized_dimension: int = 0

    @property
    def is_constant(self) -> bool:
        return self.data is not None

    @property
    def is_quantized(self) -> bool:
        return self.scale is not None and self.dtype in ("int8", "uint8", "int16")

    def dequantized(self) -> np.ndarray:
        """The values as float32: dequantised (per tensor or per channel) when quantised."""
        if self.data is None:
            raise ValueError(f"tensor {self.name!r} (#{self.index}) is not a constant")
        if not self.is_quantized:
            return self.data.astype(np.float32)
        shape = [1] * self.data.ndim
        if self.scale.size > 1:
            if self.scale.size != self.data.shape[self.quantized_dimension]:
                raise ValueError(f"tensor {self.name!r}: {self.scale.size} scales for axis {self.quantized_dimension} "
                                 f"of shape {self.data.shape}")
            shape[self.quantized_dimension] = -1
        scale = self.scale.astype(np.float32).reshape(shape if self.scale.size > 1 else [1] * self.data.ndim)
        zero = self.zero_point if self.zero_point is not None and self.zero_point.size else np.zeros(1, np.int64)
        zero = zero.astype(np.float32).reshape(shape if zero.size > 1 else [1] * self.data.ndim)
        return (scale * (self.data.astype(np.float32) - zero)).astype(np.float32)


@dataclass
class TFLiteOp:
    """One operator: its builtin name (``"CONV_2D"`` ...), input and output tensor indices
    (``-1`` marks an omitted optional input) and its options as a dict of plain values."""

    index: int
    kind: str
    inputs: list[int]
    outputs: list[int]
    options: dict = field(default_factory=dict)


@dataclass
class TFLiteGraph:
    """The first subgraph of a TensorFlow Lite file: ``tensors``, ``ops``, graph ``inputs`` and ``outputs``."""

    path: Path
    tensors: list[TFLiteTensor]
    ops: list[TFLiteOp]
    inputs: list[int]
    outputs: list[int]

    def tensor(self, name: str) -> TFLiteTensor:
        """The tensor called ``name``; a ``KeyError`` names the file when there is none."""
        for t in self.tensors:
            if t.name == name:
                return t
        raise KeyError(f"{self.path}: no tensor named {name!r}")

    def producer(self, index: int) -> TFLiteOp | None:
        """The operator that writes tensor ``index`` (``None`` for constants and graph inputs)."""
        for op in self.ops:
            if index in op.outputs:
                return op
        return None


def _op_names() -> dict[int, str]:
    import tflite

    return {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_") and isinstance(v, int)}


def _options(op, kind: str) -> dict:
    """The few option tables a port needs (padding, strides, fused activation)."""
    import tflite

    table = op.BuiltinOptions()
    classes = {"CONV_2D": tflite.Conv2DOptions, "DEPTHWISE_CONV_2D": tflite.DepthwiseConv2DOptions,
               "FULLY_CONNECTED": tflite.FullyConnectedOptions}
    if table is None or kind not in classes:
        return {}
    opts = classes[kind]()
    opts.Init(table.Bytes, table.Pos)
    out = {"fused_activation": int(opts.FusedActivationFunction())}
    if kind == "FULLY_CONNECTED":
        out["asymmetric_quantize_inputs"] = bool(opts.AsymmetricQuantizeInputs())
    else:
        out.update(padding="SAME" if opts.Padding() == tflite.Padding.SAME else "VALID",
                   stride=(int(opts.StrideH()), int(opts.StrideW())))
        if kind == "DEPTHWISE_CONV_2D":
            out["depth_multiplier"] = int(opts.DepthMultiplier())
    return out


def read_tflite(path: str | Path) -> TFLiteGraph:
    """Parse ``path`` into a :class:`TFLiteGraph` (first subgraph; constants as numpy arrays).

    Raises ``FileNotFoundError`` / ``ValueError`` naming the file when it is absent or not a
    TensorFlow Lite FlatBuffer, and ``ImportError`` saying what to install without ``tflite``.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"TensorFlow Lite file {path} not found")
    try:
        import tflite
    except ImportError:
        raise ImportError("reading .tflite files needs the 'tflite' package: pip install tflite") from None
    raw = path.read_bytes()
    if len(raw) < 8 or raw[4:8] != b"TFL3":
        raise ValueError(f"{path} is not a TensorFlow Lite file (no TFL3 identifier)")
    try:
        model = tflite.Model.GetRootAsModel(raw, 0)
        graph = model.Subgraphs(0)
        names = _op_names()
        tensors = [_tensor(model, graph.Tensors(i), i, raw) for i in range(graph.TensorsLength())]
        ops = []
        for i in range(graph.OperatorsLength()):
            op = graph.Operators(i)
            code = model.OperatorCodes(op.OpcodeIndex())
            # newer files keep the code in BuiltinCode, old ones in DeprecatedBuiltinCode (<127)
            kind = names.get(max(int(code.BuiltinCode()), int(code.DeprecatedBuiltinCode())), "CUSTOM")
            ops.append(TFLiteOp(i, kind, op.InputsAsNumpy().tolist(), op.OutputsAsNumpy().tolist(), _options(op, kind)))
        inputs = graph.InputsAsNumpy().tolist()
        outputs = graph.OutputsAsNumpy().tolist()
    except (IndexError, ValueError, TypeError) as exc:  # truncated or corrupt tables
        raise ValueError(f"{path}: unreadable TensorFlow Lite file ({type(exc).__name__}: {exc})") from None
    return TFLiteGraph(path, tensors, ops, inputs, outputs)


def _tensor(model, t, index: int, raw: bytes) -> TFLiteTensor:
    shape = tuple(int(s) for s in t.ShapeAsNumpy()) if t.ShapeLength() else ()
    dtype = _TYPE_NAMES.get(int(t.Type()), f"type{int(t.Type())}")
    data = None
    buffer = model.Buffers(t.Buffer())
    if buffer is not None and int(t.Type()) in _DTYPES:
        if buffer.DataLength():
            blob = buffer.DataAsNumpy().tobytes()
        elif buffer.Offset() > 1:  # large models keep the bytes after the FlatBuffer
            blob = raw[buffer.Offset(): buffer.Offset() + buffer.Size()]
        else:
            blob = b""
        if blob:
            values = np.frombuffer(blob, dtype=_DTYPES[int(t.Type())])
            if values.size != int(np.prod(shape, dtype=np.int64)):
                raise ValueError(f"tensor {t.Name().decode()!r}: {values.size} values for shape {shape}")
            data = values.reshape(shape).copy()
    scale = zero = None
    qdim = 0
    q = t.Quantization()
    if q is not None and q.ScaleLength():
        scale = q.ScaleAsNumpy().astype(np.float32)
        zero = q.ZeroPointAsNumpy().astype(np.int64) if q.ZeroPointLength() else np.zeros(1, np.int64)
        qdim = int(q.QuantizedDimension())
    return TFLiteTensor(index, t.Name().decode("utf-8", "replace"), shape, dtype, data, scale, zero, qdim)
