"""ImageCaptioner: tiny BLIP and ViT-GPT2 models taught two captions by the test, and the offline OCR backend.

No real captioning weights are available offline. The tiny models are trained for a second to say "a red
house" for red pictures and "a blue sea" for blue ones, which is enough to check the executor's real path:
loading from a directory, preprocessing, one batched generate call, decoding, and each caption landing on
its own document.
"""

import os
import time

import numpy as np
import pytest
from docarray import DocList
from jina import Executor

from executors.image_captioner.executor import ImageCaptioner
from transmodal import fonts, synthetic
from transmodal.docs import MediaDoc
from transmodal.errors import ConfigurationError, ModelNotFoundError, UnsupportedLanguageError
from transmodal.media import encode_image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CAPTIONS = {"red": "a red house", "blue": "a blue sea"}
COLORS = {"red": (200, 30, 30), "blue": (30, 30, 200)}


def picture(color: str, seed: int) -> np.ndarray:
    """A noisy picture of one colour; every seed gives different pixels."""
    noise = np.random.default_rng(seed).integers(-20, 20, (48, 64, 3))
    return np.clip(np.array(COLORS[color]) + noise, 0, 255).astype(np.uint8)


TRAINING_PICTURES = [(picture(color, seed), CAPTIONS[color]) for seed in range(4) for color in CAPTIONS]


def _train(model, batch: dict) -> None:
    import torch

    # One torch thread: under OMP_THREAD_LIMIT=1 (often set for Tesseract) OpenMP runs a single thread while
    # torch plans work for get_num_threads() of them, and the patch embedding's gradient comes out NaN.
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    try:
        for _ in range(300):  # memorise two captions: a second on CPU
            loss = model(**batch).loss
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if loss.item() < 0.01:
                break
    finally:
        torch.set_num_threads(threads)
    model.eval()


def _build_tiny_blip(directory: str) -> None:
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    words = sorted({word for caption in CAPTIONS.values() for word in caption.split()})
    vocab = {token: index for index, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)}
    processor = BlipProcessor(image_processor=BlipImageProcessor(size={"height": 32, "width": 32}),
                              tokenizer=BertTokenizer(vocab=vocab))
    config = BlipConfig(
        vision_config={"hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1, "num_attention_heads": 4,
                       "image_size": 32, "patch_size": 8},
        text_config={"vocab_size": len(vocab), "hidden_size": 32, "intermediate_size": 37, "num_hidden_layers": 1,
                     "num_attention_heads": 4, "max_position_embeddings": 32, "pad_token_id": 0, "bos_token_id": 2,
                     "sep_token_id": 3, "eos_token_id": 3},
        projection_dim=32,
    )
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(config)
    batch = processor(images=[image for image, _ in TRAINING_PICTURES], text=[text for _, text in TRAINING_PICTURES],
                      return_tensors="pt", padding=True)
    labels = batch["input_ids"].masked_fill(batch["input_ids"] == 0, -100)
    _train(model, {"pixel_values": batch["pixel_values"], "input_ids": batch["input_ids"],
                   "attention_mask": batch["attention_mask"], "labels": labels})
    processor.save_pretrained(directory)
    model.save_pretrained(directory)


def _build_tiny_vit_gpt2(directory: str) -> None:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import (GPT2Config, PreTrainedTokenizerFast, VisionEncoderDecoderConfig,
                              VisionEncoderDecoderModel, ViTConfig, ViTImageProcessor)

    # A byte-level BPE like GPT-2's, trained on the two captions (transformers 5 ignores vocab_file=).
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(list(CAPTIONS.values()) * 5, vocab_size=300, special_tokens=["<|endoftext|>"],
                            show_progress=False)
    end = "<|endoftext|>"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=end, eos_token=end, pad_token=end)
    end_id = tokenizer.eos_token_id
    image_processor = ViTImageProcessor(size={"height": 32, "width": 32})
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        ViTConfig(hidden_size=32, intermediate_size=37, num_hidden_layers=1, num_attention_heads=4, image_size=32,
                  patch_size=8),
        GPT2Config(vocab_size=len(tokenizer), n_embd=32, n_layer=1, n_head=4, n_positions=32, bos_token_id=end_id,
                   eos_token_id=end_id),
    )
    # As in ViT-GPT2 captioners: GPT-2's end-of-text token also starts and pads every caption.
    config.decoder_start_token_id = config.pad_token_id = config.eos_token_id = end_id
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config)
    for name in ("decoder_start_token_id", "pad_token_id", "eos_token_id"):
        setattr(model.generation_config, name, end_id)
    token_ids = [tokenizer(text).input_ids + [end_id] for _, text in TRAINING_PICTURES]
    longest = max(len(ids) for ids in token_ids)
    labels = torch.tensor([ids + [-100] * (longest - len(ids)) for ids in token_ids])
    pixel_values = image_processor(images=[image for image, _ in TRAINING_PICTURES], return_tensors="pt").pixel_values
    _train(model, {"pixel_values": pixel_values, "labels": labels})
    image_processor.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)


@pytest.fixture(scope="module")
def blip_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tiny-blip"))
    _build_tiny_blip(directory)
    return directory


@pytest.fixture(scope="module")
def vit_gpt2_dir(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("tiny-vit-gpt2"))
    _build_tiny_vit_gpt2(directory)
    return directory


def caption(captioner: ImageCaptioner, docs: list[MediaDoc]) -> DocList[MediaDoc]:
    return captioner.caption(DocList[MediaDoc](docs), {})


def picture_doc(color: str, seed: int) -> MediaDoc:
    return MediaDoc(image=encode_image(picture(color, seed)), name=f"{color}-{seed}.png")


def test_blip_describes_each_picture_of_a_batch_on_its_own_document(blip_dir):
    captioner = ImageCaptioner(backend="transformers", backend_options={"model": blip_dir})
    result = caption(captioner, [picture_doc("blue", 100), picture_doc("red", 101), picture_doc("blue", 102)])
    assert [doc.text for doc in result] == ["a blue sea", "a red house", "a blue sea"]
    assert all(doc.error is None and doc.source_lang == "en" for doc in result)
    assert all(doc.trace == ["ImageCaptioner"] for doc in result)


def test_all_pictures_of_a_request_go_to_one_generate_call(blip_dir):
    captioner = ImageCaptioner(backend="transformers", backend_options={"model": blip_dir})
    model = captioner.captioner.model
    batch_sizes = []
    original_generate = model.generate
    model.generate = lambda pixel_values, **options: (
        batch_sizes.append(len(pixel_values)) or original_generate(pixel_values=pixel_values, **options))
    result = caption(captioner, [picture_doc(color, seed) for seed, color in enumerate(["red", "blue"] * 3)])
    assert batch_sizes == [6]
    assert [doc.text for doc in result] == ["a red house", "a blue sea"] * 3


def test_vit_gpt2_describes_pictures_in_the_language_it_is_configured_for(vit_gpt2_dir):
    captioner = ImageCaptioner(backend="transformers",
                               backend_options={"model": vit_gpt2_dir, "language": "en-GB", "batch_size": 2})
    result = caption(captioner, [picture_doc("red", 200), picture_doc("blue", 201), picture_doc("red", 202)])
    assert [doc.text for doc in result] == ["a red house", "a blue sea", "a red house"]
    assert all(doc.source_lang == "en" for doc in result)


def test_a_bad_image_fails_only_its_document_and_the_next_is_described(blip_dir):
    captioner = ImageCaptioner(backend="transformers", backend_options={"model": blip_dir}, max_pixels=100_000)
    truncated = encode_image(picture("red", 300))[:200]
    failed_upstream = MediaDoc(image=encode_image(picture("red", 301)), error="boom", error_stage="Upstream")
    result = caption(captioner, [
        MediaDoc(image=b"not an image"), MediaDoc(image=truncated), MediaDoc(),
        MediaDoc(image=encode_image(np.zeros((400, 400, 3), np.uint8))),  # over max_pixels
        failed_upstream, picture_doc("blue", 302),
    ])
    assert "cannot decode image" in result[0].error and "truncated or corrupt" in result[1].error
    assert "empty image" in result[2].error and "image too large" in result[3].error
    assert all(doc.error_stage == "ImageCaptioner" and doc.text is None for doc in result[:4])
    assert result[4].error_stage == "Upstream" and result[4].text is None
    assert result[5].error is None and result[5].text == "a blue sea"


def test_missing_model_fails_fast_naming_what_to_set(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TRANSMODAL_CAPTION_MODEL", raising=False)
    started = time.monotonic()
    with pytest.raises(ModelNotFoundError, match="TRANSMODAL_CAPTION_MODEL"):
        ImageCaptioner(backend="transformers")
    with pytest.raises(ModelNotFoundError, match="with: model"):
        ImageCaptioner(backend="transformers", backend_options={"model": "Salesforce/blip-image-captioning-base"})
    assert time.monotonic() - started < 10


def test_unknown_backend_lists_the_choices():
    with pytest.raises(ConfigurationError, match="ocr, transformers"):
        ImageCaptioner(backend="nope")


# --- ocr backend: real and offline, but it only sees writing -------------------------------------------

def test_ocr_describes_a_sign_by_its_text_and_a_picture_without_writing_gets_an_error():
    sign = synthetic.make_sign(["No smoking"], size=(480, 240), font_file=fonts.font_path(fonts.SANS_BOLD),
                               text_color=(20, 20, 20), background_color=(240, 240, 240), seed=1)
    # The YAML's default backend, as a Flow would start it.
    captioner = Executor.load_config(os.path.join(ROOT, "executors/image_captioner/config.yml"))
    sign_doc, plain_doc = captioner.caption(DocList[MediaDoc]([
        MediaDoc(image=encode_image(sign.image)), MediaDoc(image=encode_image(picture("blue", 400)))]), {})
    assert sign_doc.error is None and sign_doc.text == "No smoking" and sign_doc.source_lang == "en"
    assert "no text found in the image" in plain_doc.error and plain_doc.text is None


def test_ocr_refuses_a_language_without_ocr_data_at_start_up():
    with pytest.raises(UnsupportedLanguageError, match="Tesseract has no data for Korean"):
        ImageCaptioner(backend="ocr", backend_options={"language": "ko"})
