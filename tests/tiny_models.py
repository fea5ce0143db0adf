"""Small real inputs the tests build themselves: tiny randomly initialised (or briefly trained) models saved
with save_pretrained, speech synthesised by flite, signs with their text-free background. Shared by the
executor tests and the Flow tests."""

import os
import subprocess
from unittest import mock

import numpy as np
from PIL import ImageDraw

from transmodal import synthetic


def flite_wav(text: str, directory, voice: str = "slt") -> bytes:
    """Speech synthesised by Debian's flite (16 kHz WAV), the recogniser's test input."""
    path = os.path.join(str(directory), "speech.wav")
    subprocess.run(["flite", "-voice", voice, "-t", text, "-o", path], check=True)
    with open(path, "rb") as file:
        return file.read()


def _tiny_stable_diffusion_parts(unet_in_channels: int, layers_per_block: int) -> dict:
    """The dummy components of diffusers' own Stable Diffusion tests: 32/64-channel UNet, tiny VAE and CLIP
    (9 UNet input channels for inpainting: latents, mask, masked image)."""
    import torch
    from diffusers import AutoencoderKL, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64), layers_per_block=layers_per_block, sample_size=32,
        in_channels=unet_in_channels, out_channels=4, cross_attention_dim=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, vocab_size=64,
    ))
    # A character-level CLIP vocabulary (no merges), passed as objects: transformers 5 ignores vocab_file=.
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    return {"unet": unet, "vae": vae, "text_encoder": text_encoder, "tokenizer": tokenizer, "safety_checker": None,
            "feature_extractor": None, "requires_safety_checker": False}


def build_tiny_stable_diffusion(directory: str) -> None:
    """A random text-to-image pipeline (64x64 natively), saved with save_pretrained."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False, steps_offset=1)
    StableDiffusionPipeline(scheduler=scheduler, **_tiny_stable_diffusion_parts(4, 2)).save_pretrained(directory)


def build_tiny_inpainting_pipeline(directory: str) -> None:
    """A random inpainting pipeline of a few hundred kB, saved with save_pretrained."""
    from diffusers import PNDMScheduler, StableDiffusionInpaintPipeline

    scheduler = PNDMScheduler(skip_prk_steps=True, steps_offset=1)
    StableDiffusionInpaintPipeline(scheduler=scheduler, **_tiny_stable_diffusion_parts(9, 1)).save_pretrained(directory)


def sign_and_background(lines, **options):
    """A generated sign, and the very same image with the text left out (the ideal erasure)."""
    sign = synthetic.make_sign(lines, **options)
    with mock.patch.object(ImageDraw.ImageDraw, "text", lambda *args, **kwargs: None):
        background = synthetic.make_sign(lines, **options).image
    return sign, background


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


def build_tiny_blip(directory: str) -> None:
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


def build_tiny_vit_gpt2(directory: str) -> None:
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
