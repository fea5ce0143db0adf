"""PP-OCR's ONNX graphs with their activations fused: the same arithmetic in about 60 % of the time; and the
recogniser's widest pointwise convolutions in 8 bits (`quantized_model`).

PaddleOCR's exporter writes PP-LCNetV3 (the backbone of PP-OCRv4's detector and recogniser) op by op: each
convolution is followed by a "learnable affine block" (Mul and Add by a scalar), hard-swish spelled as four
element-wise ops (Add 3, Clip 0..6, Mul, Div 6) and a second affine block. ONNX Runtime fuses none of it, so
on 2 cores half of the recogniser's time went to passes over memory that compute nothing a convolution could
not (profiled on real comic lines: Conv 31 %, Mul 20 %, Add 17 %, Clip 8 %, Div 6 %). Here

- an affine block after a convolution is folded into its weights and bias;
- hard-swish becomes the one `HardSwish` op (opset 14), which ONNX Runtime then runs inside the
  convolution (its profile shows no activation op left);
- an affine block before a convolution without padding is folded into that convolution too (with padding
  it is not the same arithmetic: the border would see the affine's offset where the original sees zeros).

Measured on 156 real comic lines: the recogniser 2.59 -> 1.59 s, every reading identical; the detector
0.36 -> 0.27 s an image on 8 real pages and photos, every box identical. The rewritten graph is checked
against the original on a random input before it is used, so a model this does not fit is never changed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

# The opset of ONNX's HardSwish; the ops PP-OCR's graphs use are the same from their opset 12 up, except
# Squeeze (axes became an input in 13), which `fuse_activations` rewrites.
HARDSWISH_OPSET = 14
# Ops whose meaning does not change from opset 11 to 14 once Squeeze is rewritten: a graph with any other
# op keeps its opset and its hard-swish spelled out. Softmax counts only with its axis given: it used to
# flatten every dimension from that axis on, and takes that one axis alone from 13 (the same for the last
# axis, which is what the recogniser uses; the check against the original catches any other).
SAME_UP_TO_OPSET_14 = {
    "Add", "AveragePool", "BatchNormalization", "Cast", "Clip", "Concat", "Conv", "ConvTranspose", "Div",
    "GlobalAveragePool", "HardSigmoid", "MatMul", "Mul", "Pow", "ReduceMean", "Relu", "Reshape", "Resize",
    "Shape", "Sigmoid", "Slice", "Sqrt", "Squeeze", "Sub", "Transpose",
}  # fmt: skip
# How far the fused graph's outputs may drift from the original's (float rounding of the folded weights).
TOLERANCE = 1e-3
# In the kept copies' names: raise it when `fuse_activations` or `quantized_model` changes (or the lines the
# recogniser is calibrated on, `rapidocr.calibration_lines`), so that copies made by an earlier version are
# made again rather than used.
VERSION = 2
# `quantized_model`: the pointwise convolutions in 8 bits are those with at least this many input channels,
# and the 8-bit copy is used only when its most likely class is the original's at this share of positions.
INT8_MIN_CHANNELS = 240
INT8_AGREEMENT = 0.98
# Weights quantized per output channel need DequantizeLinear's `axis`, from opset 13 (PP-OCR's graphs are
# at 11 until `fuse_activations` lifts them to 14).
PER_CHANNEL_OPSET = 13


def fuse_activations(model) -> int:
    """Fuse the onnx.ModelProto `model` in place; the number of rewrites made."""
    from onnx import helper, numpy_helper

    graph = model.graph
    values = {tensor.name: numpy_helper.to_array(tensor) for tensor in graph.initializer}
    for node in graph.node:
        if node.op_type == "Constant" and node.attribute and node.attribute[0].name == "value":
            values[node.output[0]] = numpy_helper.to_array(node.attribute[0].t)
    nodes = [node for node in graph.node if not (node.op_type == "Constant" and node.output[0] in values)]

    def consumers(name):
        return [node for node in nodes if name in node.input]

    def producer(name):
        return next((node for node in nodes if name in node.output), None)

    def sole_consumer(name, op_type):
        found = consumers(name)
        return found[0] if len(found) == 1 and found[0].op_type == op_type else None

    def scalar_operand(node):
        """(the scalar, the other input) of a binary op with one scalar constant operand, else (None, None)."""
        if node is None or len(node.input) != 2:
            return None, None
        for constant, other in (node.input, reversed(node.input)):
            if constant in values and values[constant].size == 1 and other not in values:
                return float(values[constant].ravel()[0]), other
        return None, None

    def affine_after(name):
        """The Mul-by-a-scalar then Add-a-scalar that is the only use of `name`: (scale, offset, nodes)."""
        mul = sole_consumer(name, "Mul")
        scale, _ = scalar_operand(mul)
        add = sole_consumer(mul.output[0], "Add") if scale is not None else None
        offset, _ = scalar_operand(add)
        return (scale, offset, (mul, add)) if offset is not None else None

    def replace_uses(old, new):
        for node in nodes:
            for index, name in enumerate(node.input):
                if name == old:
                    node.input[index] = new
        for output in graph.output:
            if output.name == old:
                output.name = new

    def set_weights(conv, weights, bias):
        values[conv.output[0] + ".fused_w"] = weights.astype(np.float32)
        values[conv.output[0] + ".fused_b"] = bias.astype(np.float32)
        del conv.input[1:]
        conv.input.extend([conv.output[0] + ".fused_w", conv.output[0] + ".fused_b"])

    def weights_and_bias(conv):
        weights = values[conv.input[1]]
        bias = values[conv.input[2]] if len(conv.input) > 2 else np.zeros(weights.shape[0], np.float32)
        return weights, bias

    rewrites = 0
    convs = [node for node in nodes if node.op_type == "Conv" and all(name in values for name in node.input[1:])]
    for conv in convs:  # conv -> (x * a + b)  ==  conv with weights * a, bias * a + b
        found = affine_after(conv.output[0])
        if found:
            scale, offset, (mul, add) = found
            weights, bias = weights_and_bias(conv)
            set_weights(conv, weights * scale, bias * scale + offset)
            replace_uses(add.output[0], conv.output[0])
            nodes.remove(mul)
            nodes.remove(add)
            rewrites += 1

    opset = next(entry for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
    # (a Softmax with its axis given is left out of the check: see SAME_UP_TO_OPSET_14)
    to_check = {
        node.op_type
        for node in nodes
        if not (node.op_type == "Softmax" and any(attribute.name == "axis" for attribute in node.attribute))
    }
    if opset.version >= HARDSWISH_OPSET or to_check <= SAME_UP_TO_OPSET_14:
        for add in [node for node in nodes if node.op_type == "Add"]:  # x * clip(x + 3, 0, 6) / 6
            three, x = scalar_operand(add)
            clip = sole_consumer(add.output[0], "Clip") if three == 3.0 else None
            if clip is None or len(clip.input) != 3 or any(name not in values for name in clip.input[1:]):
                continue
            mul = sole_consumer(clip.output[0], "Mul")
            if (float(values[clip.input[1]]), float(values[clip.input[2]])) != (0.0, 6.0) or mul is None:
                continue
            div = sole_consumer(mul.output[0], "Div") if set(mul.input) == {x, clip.output[0]} else None
            if div is None or scalar_operand(div)[0] != 6.0:
                continue
            nodes[nodes.index(add)] = helper.make_node("HardSwish", [x], [div.output[0]], name=div.output[0])
            for node in (clip, mul, div):
                nodes.remove(node)
            rewrites += 1
        if opset.version < HARDSWISH_OPSET:
            for node in nodes:
                axes = next((attribute for attribute in node.attribute if attribute.name == "axes"), None)
                if node.op_type == "Squeeze" and axes is not None:
                    values[node.output[0] + ".axes"] = np.array(axes.ints, np.int64)
                    node.input.append(node.output[0] + ".axes")
                    node.attribute.remove(axes)
            opset.version = HARDSWISH_OPSET

    for conv in convs:  # conv(x * c + d) == conv with weights * c, bias + d * sum(weights), without padding
        padding = next((list(attribute.ints) for attribute in conv.attribute if attribute.name == "pads"), [])
        add = producer(conv.input[0])
        offset, scaled = scalar_operand(add) if add is not None and add.op_type == "Add" else (None, None)
        mul = producer(scaled) if offset is not None else None
        scale, x = scalar_operand(mul) if mul is not None and mul.op_type == "Mul" else (None, None)
        if any(padding) or scale is None or len(consumers(add.output[0])) > 1 or len(consumers(scaled)) > 1:
            continue
        weights, bias = weights_and_bias(conv)
        set_weights(conv, weights * scale, bias + offset * weights.sum(axis=(1, 2, 3)))
        conv.input[0] = x
        nodes.remove(mul)
        nodes.remove(add)
        rewrites += 1

    used = {name for node in nodes for name in node.input}
    del graph.node[:]
    graph.node.extend(nodes)
    del graph.initializer[:]
    graph.initializer.extend(numpy_helper.from_array(value, name) for name, value in values.items() if name in used)
    return rewrites


def _outputs(model: str | bytes, feeds: list[np.ndarray]) -> list[list[np.ndarray]]:
    """The outputs of the model (a path, or its serialised bytes) for each of `feeds` (one session)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return [session.run(None, {name: feed}) for feed in feeds]


def _probe(model) -> np.ndarray:
    """A random input of the model's shape: batch 1, 64 for any other free dimension (a multiple of 32)."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    shape = [dim.dim_value if dim.dim_value > 0 else (1 if index == 0 else 64) for index, dim in enumerate(dims)]
    return np.random.default_rng(0).uniform(-1.0, 1.0, shape).astype(np.float32)


def fused_model(path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """A fused copy of the ONNX model at `path` (made once, kept beside the project's models), or `path`
    itself when fusing changed nothing or changed what the model computes."""
    import onnx

    path = Path(path)

    def make() -> bytes | None:
        fused = onnx.load(str(path))
        feed = _probe(fused)  # (the input's shape is the original's)
        if not fuse_activations(fused):
            return None
        fused_bytes = fused.SerializeToString()
        outputs = zip(_outputs(str(path), [feed])[0], _outputs(fused_bytes, [feed])[0])
        drift = max(float(np.max(np.abs(a - b))) for a, b in outputs)
        if drift > TOLERANCE:
            logger.warning("%s: fused graph drifts by %.3g from the original; using the original", path, drift)
            return None
        return fused_bytes

    return _kept_copy(path, f"fused-v{VERSION}", make, cache_dir)


def quantized_model(
    path: str | Path,
    calibration: Callable[[], list[np.ndarray]],
    cache_dir: str | Path | None = None,
    min_channels: int = INT8_MIN_CHANNELS,
    agreement: float = INT8_AGREEMENT,
) -> Path:
    """A copy of the ONNX model at `path` with its pointwise convolutions of at least `min_channels` input
    channels in 8 bits (made once, kept beside the project's models), or `path` itself when there are none
    or the copy reads differently: the calibration inputs (`calibration()`, each a batch the model takes)
    set the activations' ranges, and the copy's most likely class (the last axis of each output) must be
    the model's at `agreement` of their output positions.

    ONNX Runtime's static quantization (QDQ: weights per output channel in int8, activations in uint8),
    limited to those convolutions: on the recogniser of PP-OCRv4 the ten of its last stages (240 and 480
    channels, a third of its time), calibrated on 108 drawn lines (`rapidocr.calibration_lines`), read as
    many words of the evaluation's real comic pages and photos as in float, 6 more of the comic's other
    1165, and take the detector 7 % less time (calibrated on half as many lines: 4 words fewer on the
    comic pages, 13 more on the others). Every convolution in 8 bits read 1.4 points fewer words on the
    comic pages and 5 on the photos, and was no faster (ONNX Runtime's depthwise convolutions in 8 bits).
    """
    path = Path(path)

    def make() -> bytes | None:
        import onnx
        from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
        from onnxruntime.quantization.shape_inference import quant_pre_process

        with tempfile.TemporaryDirectory(prefix="transmodal-int8-") as folder:
            prepared, target = Path(folder) / "prepared.onnx", Path(folder) / "model.onnx"
            # ONNX Runtime's own graph optimisations first, as its quantization tool advises (without them
            # the copy read 5 fewer words on the real comic pages)
            quant_pre_process(str(path), str(prepared), skip_symbolic_shape=True)
            model = onnx.load(str(prepared))
            opset = next(entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx"))
            if opset < PER_CHANNEL_OPSET:
                return None
            weights = {tensor.name: tensor.dims for tensor in model.graph.initializer}
            nodes = [
                node.name
                for node in model.graph.node
                if node.op_type == "Conv"
                and node.input[1] in weights
                and list(weights[node.input[1]][2:]) == [1, 1]
                and weights[node.input[1]][1] >= min_channels
            ]
            if not nodes:
                return None
            inputs = calibration()
            name = model.graph.input[0].name

            class Feeds(CalibrationDataReader):
                def __init__(self):
                    self.feeds = iter(inputs)

                def get_next(self):
                    batch = next(self.feeds, None)
                    return None if batch is None else {name: batch}

            quantize_static(
                str(prepared),
                str(target),
                Feeds(),
                quant_format=QuantFormat.QDQ,
                per_channel=True,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_quantize=nodes,
            )
            quantized = target.read_bytes()
        agree = [
            float(np.mean(np.argmax(a, axis=-1) == np.argmax(b, axis=-1)))
            for float_outputs, int8_outputs in zip(_outputs(str(path), inputs), _outputs(quantized, inputs))
            for a, b in zip(float_outputs, int8_outputs)
        ]
        if float(np.mean(agree)) < agreement:
            logger.warning("%s: 8-bit copy agrees on %.3f of its outputs; using the original", path, np.mean(agree))
            return None
        return quantized

    return _kept_copy(path, f"int8-{min_channels}-v{VERSION}", make, cache_dir)


def _kept_copy(path: Path, kind: str, make: Callable[[], bytes | None], cache_dir: str | Path | None) -> Path:
    """The copy of the model at `path` that `make` returns (its serialised bytes; None: use the model as it
    is), named by the model's contents and `kind`: found where an earlier call kept it, else made and kept
    beside the project's models, in the temporary folder where that is read-only (a mounted models
    volume). Copies of the same model and of the same kind by other versions of this module are removed."""
    from transmodal.model_store import models_dir

    name = f"{path.stem}.{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}.{kind}.onnx"
    folders = [Path(cache_dir) if cache_dir else models_dir() / "fused-onnx", Path(tempfile.gettempdir())]
    for folder in folders:
        if (folder / name).is_file():
            return folder / name
    made = make()
    if made is None:
        return path
    family = kind.rsplit("-v", 1)[0]  # ("fused": also the unversioned names of the first version)
    for folder in folders:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            partial = folder / f"{name}.{os.getpid()}.partial"
            partial.write_bytes(made)
            os.replace(partial, folder / name)  # atomic: processes starting together never read half a file
            for stale in folder.glob(f"{path.stem}.*.{family}*.onnx"):  # copies by other versions of this module
                if stale.name != name:
                    stale.unlink(missing_ok=True)
            return folder / name
        except OSError as error:
            logger.info("cannot keep the %s model in %s (%s)", kind, folder, error)
    return path
