"""PP-OCR's graphs with their activations fused (transmodal/ocr/graph.py): the same outputs, fewer ops;
their widest pointwise convolutions in 8 bits."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime
from onnx import TensorProto, helper, numpy_helper
from PIL import Image, ImageDraw, ImageFont

from transmodal import fonts
from transmodal.ocr.graph import fuse_activations, fused_model, quantized_model


def _constant(name: str, value) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(np.asarray(value, np.float32), name))


def lcnet_block(opset: int = 12) -> onnx.ModelProto:
    """One PP-LCNetV3 block as PaddleOCR exports it: a padded 3x3 conv, an affine block, hard-swish in four
    ops, an affine block, then a 1x1 conv (no padding) and a Squeeze with `axes` as an attribute."""
    rng = np.random.default_rng(1)
    nodes = [
        _constant("w0", rng.normal(size=(4, 3, 3, 3))),
        _constant("b0", rng.normal(size=4)),
        helper.make_node("Conv", ["x", "w0", "b0"], ["c0"], pads=[1, 1, 1, 1]),
        _constant("a", 1.7),
        helper.make_node("Mul", ["a", "c0"], ["m0"]),
        _constant("b", 0.3),
        helper.make_node("Add", ["m0", "b"], ["t"]),
        _constant("three", 3.0),
        helper.make_node("Add", ["t", "three"], ["t3"]),
        _constant("zero", 0.0),
        _constant("six", 6.0),
        helper.make_node("Clip", ["t3", "zero", "six"], ["clipped"]),
        helper.make_node("Mul", ["t", "clipped"], ["product"]),
        helper.make_node("Div", ["product", "six"], ["swished"]),
        _constant("c", 0.4),
        helper.make_node("Mul", ["c", "swished"], ["m1"]),
        _constant("d", -0.2),
        helper.make_node("Add", ["m1", "d"], ["affine"]),
        _constant("w1", rng.normal(size=(5, 4, 1, 1))),
        _constant("b1", rng.normal(size=5)),
        helper.make_node("Conv", ["affine", "w1", "b1"], ["c1"]),
        helper.make_node("ReduceMean", ["c1"], ["pooled"], axes=[2], keepdims=1),
        helper.make_node("Squeeze", ["pooled"], ["y"], axes=[2]),
    ]
    graph = helper.make_graph(
        nodes,
        "lcnet_block",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3, 8, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return model


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


def test_an_lcnet_block_is_fused_into_two_convolutions_and_a_hardswish_with_the_same_output():
    original = lcnet_block()
    fused = lcnet_block()
    assert fuse_activations(fused) == 3  # affine after the first conv, hard-swish, affine before the second
    assert [node.op_type for node in fused.graph.node] == ["Conv", "HardSwish", "Conv", "ReduceMean", "Squeeze"]
    assert fused.opset_import[0].version == 14
    x = np.random.default_rng(2).normal(size=(2, 3, 8, 11)).astype(np.float32)
    np.testing.assert_allclose(run(fused, x), run(original, x), rtol=1e-5, atol=1e-5)


def test_an_affine_block_before_a_padded_convolution_is_left_alone():
    # conv(x * c + d) with zero padding sees 0 at the border where the fold would see d: not the same.
    model = lcnet_block()
    second = next(node for node in model.graph.node if node.output[0] == "c1")
    second.attribute.append(helper.make_attribute("pads", [1, 1, 1, 1]))
    original = onnx.ModelProto()
    original.CopyFrom(model)
    assert fuse_activations(model) == 2
    assert "Add" in [node.op_type for node in model.graph.node]
    x = np.random.default_rng(3).normal(size=(1, 3, 8, 9)).astype(np.float32)
    np.testing.assert_allclose(run(model, x), run(original, x), rtol=1e-5, atol=1e-5)


def test_an_op_whose_meaning_changed_after_opset_12_keeps_the_graph_at_its_opset():
    # Softmax without an axis took the last dimensions flattened before opset 13, the last one after:
    # such a graph keeps its opset, so its hard-swish stays spelled out (the affine blocks still fold).
    model = lcnet_block()
    model.graph.node.append(helper.make_node("Softmax", ["y"], ["probabilities"]))
    model.graph.output[0].name = "probabilities"
    assert fuse_activations(model) == 2
    assert model.opset_import[0].version == 12
    assert "HardSwish" not in [node.op_type for node in model.graph.node]


def test_a_fused_copy_is_made_once_and_a_model_with_nothing_to_fuse_is_used_as_it_is(tmp_path):
    source = tmp_path / "block.onnx"
    onnx.save(lcnet_block(), source)
    stale = tmp_path / "fused" / "block.0123456789abcdef.fused.onnx"  # made by an earlier version
    stale.parent.mkdir()
    stale.write_bytes(b"")
    first = fused_model(source, cache_dir=tmp_path / "fused")
    assert first != source and first.parent == tmp_path / "fused"
    assert not stale.exists()
    assert fused_model(source, cache_dir=tmp_path / "fused") == first
    x = np.random.default_rng(4).normal(size=(1, 3, 8, 6)).astype(np.float32)
    np.testing.assert_allclose(run(onnx.load(first), x), run(lcnet_block(), x), rtol=1e-5, atol=1e-5)

    plain = lcnet_block()
    keep = {"w1", "b1", "c1", "pooled", "y"}
    kept = [n for n in plain.graph.node if n.output[0] in keep]
    del plain.graph.node[:]
    plain.graph.node.extend(kept)
    plain.graph.input[0].CopyFrom(helper.make_tensor_value_info("affine", TensorProto.FLOAT, [None, 4, 8, None]))
    onnx.save(plain, tmp_path / "plain.onnx")
    assert fused_model(tmp_path / "plain.onnx", cache_dir=tmp_path / "fused") == tmp_path / "plain.onnx"


def test_rapidocr_reads_the_same_with_its_fused_models_and_its_8_bit_recogniser():
    from transmodal.ocr.rapidocr import RapidOCREngine

    font = fonts.font_path(fonts.SANS)
    image = Image.new("RGB", (900, 160), "white")
    draw = ImageDraw.Draw(image)
    draw.text((20, 20), "Fresh bread and coffee", fill="black", font=ImageFont.truetype(font, 44))
    draw.text((20, 90), "OPEN EVERY DAY 7-19", fill=(30, 60, 120), font=ImageFont.truetype(font, 40))
    pixels = np.asarray(image)
    fused, plain = RapidOCREngine(quantized=False), RapidOCREngine(fused=False, quantized=False)
    for session in (fused.engine.text_det.infer.session, fused.engine.text_rec.session.session):
        ops = {node.op_type for node in onnx.load(session._model_path).graph.node}
        assert "HardSwish" in ops and "Clip" not in ops, session._model_path
    for session in (plain.engine.text_det.infer.session, plain.engine.text_rec.session.session):
        options = session.get_session_options()  # (the options RapidOCR does not set: `rapidocr._session`)
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert options.enable_cpu_mem_arena
    lines = fused.find_lines(pixels, "en")
    assert [line.box for line in lines] == [line.box for line in plain.find_lines(pixels, "en")]
    boxes = [line.box for line in lines]
    read = [(line.text, round(line.confidence, 3)) for line in fused.read_lines(pixels, boxes, "en")]
    assert read == [(line.text, round(line.confidence, 3)) for line in plain.read_lines(pixels, boxes, "en")]
    assert [text.replace(" ", "") for text, _ in read] == ["Freshbreadandcoffee", "OPENEVERYDAY7-19"]

    quantized = RapidOCREngine()  # (the default)
    ops = {node.op_type for node in onnx.load(quantized.engine.text_rec.session.session._model_path).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops
    in_8_bits = quantized.read_lines(pixels, boxes, "en")
    assert [line.text for line in in_8_bits] == [text for text, _ in read]
    assert all(abs(line.confidence - confidence) < 0.02 for line, (_, confidence) in zip(in_8_bits, read))


def pointwise_head() -> onnx.ModelProto:
    """A recogniser's end in miniature: a 1x1 conv from 8 channels to 16, one from 16 to 6 classes, then the
    classes' probabilities per position."""
    rng = np.random.default_rng(5)
    weights = {
        "w_from_8": rng.normal(size=(16, 8, 1, 1)),
        "b_from_8": rng.normal(size=16),
        "w_from_16": rng.normal(size=(6, 16, 1, 1)),
        "b_from_16": rng.normal(size=6),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w_from_8", "b_from_8"], ["from_8"], name="from_8"),
        helper.make_node("Relu", ["from_8"], ["relu"]),
        helper.make_node("Conv", ["relu", "w_from_16", "b_from_16"], ["from_16"], name="from_16"),
        helper.make_node("ReduceMean", ["from_16"], ["pooled"], axes=[2], keepdims=0),  # (batch, classes, width)
        helper.make_node("Transpose", ["pooled"], ["per_position"], perm=[0, 2, 1]),
        helper.make_node("Softmax", ["per_position"], ["y"], axis=-1),
    ]
    initializers = [numpy_helper.from_array(np.asarray(value, np.float32), name) for name, value in weights.items()]
    graph = helper.make_graph(
        nodes,
        "pointwise_head",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 8, 4, None])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
    model.ir_version = 8
    return model


def _head_inputs(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(1, 8, 4, 12)).astype(np.float32) for _ in range(count)]


def test_only_the_wide_pointwise_convolutions_go_to_8_bits_and_the_copy_is_made_once(tmp_path):
    source = tmp_path / "head.onnx"
    onnx.save(pointwise_head(), source)
    inputs = _head_inputs(8, seed=6)
    calibrations = []

    def calibration():
        calibrations.append(1)
        return inputs

    copy = quantized_model(source, calibration, cache_dir=tmp_path / "int8", min_channels=16, agreement=0.5)
    assert copy != source and copy.parent == tmp_path / "int8"
    model = onnx.load(copy)
    dequantized = {node.input[0] for node in model.graph.node if node.op_type == "DequantizeLinear"}
    assert any(name.startswith("w_from_16") for name in dequantized)  # 16 channels in: 8 bits
    assert not any(name.startswith("w_from_8") for name in dequantized)  # 8 channels in: float
    assert quantized_model(source, calibration, cache_dir=tmp_path / "int8", min_channels=16, agreement=0.5) == copy
    assert len(calibrations) == 1  # the second call found the kept copy
    x = inputs[0]
    assert np.mean(run(model, x).argmax(-1) == run(pointwise_head(), x).argmax(-1)) >= 0.5


def test_a_model_without_wide_pointwise_convolutions_or_whose_8_bit_copy_reads_otherwise_is_kept(tmp_path):
    source = tmp_path / "head.onnx"
    onnx.save(pointwise_head(), source)
    inputs = _head_inputs(1, seed=7)
    cache = tmp_path / "int8"
    assert quantized_model(source, lambda: inputs, cache_dir=cache, min_channels=32) == source
    # no copy agrees with the float model on more than all of its positions
    assert quantized_model(source, lambda: inputs, cache_dir=cache, min_channels=16, agreement=1.01) == source
    assert not list(cache.glob("*.onnx"))
