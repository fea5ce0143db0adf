"""Small real inputs the tests build themselves: tiny randomly initialised (or briefly trained) models saved
with save_pretrained, speech synthesised by flite, signs with their text-free background. Shared by the
executor tests, the executor contract battery and the Flow tests.

Every builder of a model lives here, one per backend that loads weights:

    TextDetector      transformers  build_tiny_trocr
    TextEraser        diffusers     build_tiny_inpainting_pipeline
    TextTranslator    transformers  build_tiny_marian (trained)
    SpeechRecognizer  whisper       build_tiny_whisper_checkpoint
                      transformers  build_tiny_transformers_whisper
    SpeechSynthesizer transformers  build_tiny_speecht5
    ImageGenerator    diffusers     build_tiny_stable_diffusion
    ImageCaptioner    transformers  build_tiny_blip, build_tiny_vit_gpt2 (trained)

A builder that trains does it through `_train`, which holds the thread guard without which gradients can
come out NaN; tokenizers are trained by `_sentencepiece` where a model needs a SentencePiece vocabulary.
"""

import io
import json
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
        block_out_channels=(32, 64),
        layers_per_block=layers_per_block,
        sample_size=32,
        in_channels=unet_in_channels,
        out_channels=4,
        cross_attention_dim=32,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        latent_channels=4,
        down_block_types=["DownEncoderBlock2D"] * 2,
        up_block_types=["UpDecoderBlock2D"] * 2,
    )
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            bos_token_id=0,
            eos_token_id=1,
            pad_token_id=1,
            hidden_size=32,
            intermediate_size=37,
            num_attention_heads=4,
            num_hidden_layers=2,
            vocab_size=64,
        )
    )
    # A character-level CLIP vocabulary (no merges), passed as objects: transformers 5 ignores vocab_file=.
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for letter in "abcdefghijklmnopqrstuvwxyz":
        vocab[letter] = len(vocab)
        vocab[letter + "</w>"] = len(vocab)
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    return {
        "unet": unet,
        "vae": vae,
        "text_encoder": text_encoder,
        "tokenizer": tokenizer,
        "safety_checker": None,
        "feature_extractor": None,
        "requires_safety_checker": False,
    }


def build_tiny_stable_diffusion(directory: str) -> None:
    """A random text-to-image pipeline (64x64 natively), saved with save_pretrained."""
    from diffusers import DDIMScheduler, StableDiffusionPipeline

    scheduler = DDIMScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        clip_sample=False,
        set_alpha_to_one=False,
        steps_offset=1,
    )
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
    """Memorise `batch` (inputs and labels as `model(**batch)` takes them): Adam, at most 300 steps, on one
    torch thread, from seed 0, leaving the model in eval mode. Every builder that trains uses this."""
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


def _sentencepiece(corpus: list[str], vocab_size: int) -> bytes:
    """A unigram SentencePiece model trained on `corpus`, as the bytes of its .model file."""
    import sentencepiece

    model_proto = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(corpus),
        model_writer=model_proto,
        vocab_size=vocab_size,
        model_type="unigram",
        character_coverage=1.0,
        hard_vocab_limit=False,
        minloglevel=2,
    )
    return model_proto.getvalue()


def build_tiny_blip(directory: str) -> None:
    import torch
    from transformers import BertTokenizer, BlipConfig, BlipForConditionalGeneration, BlipImageProcessor, BlipProcessor

    words = sorted({word for caption in CAPTIONS.values() for word in caption.split()})
    vocab = {token: index for index, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)}
    processor = BlipProcessor(
        image_processor=BlipImageProcessor(size={"height": 32, "width": 32}), tokenizer=BertTokenizer(vocab=vocab)
    )
    config = BlipConfig(
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 37,
            "num_hidden_layers": 1,
            "num_attention_heads": 4,
            "max_position_embeddings": 32,
            "pad_token_id": 0,
            "bos_token_id": 2,
            "sep_token_id": 3,
            "eos_token_id": 3,
        },
        projection_dim=32,
    )
    torch.manual_seed(0)
    model = BlipForConditionalGeneration(config)
    batch = processor(
        images=[image for image, _ in TRAINING_PICTURES],
        text=[text for _, text in TRAINING_PICTURES],
        return_tensors="pt",
        padding=True,
    )
    labels = batch["input_ids"].masked_fill(batch["input_ids"] == 0, -100)
    _train(
        model,
        {
            "pixel_values": batch["pixel_values"],
            "input_ids": batch["input_ids"],
            "attention_mask": batch["attention_mask"],
            "labels": labels,
        },
    )
    processor.save_pretrained(directory)
    model.save_pretrained(directory)


def build_tiny_vit_gpt2(directory: str) -> None:
    import torch
    from tokenizers import ByteLevelBPETokenizer
    from transformers import (
        GPT2Config,
        PreTrainedTokenizerFast,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    # A byte-level BPE like GPT-2's, trained on the two captions (transformers 5 ignores vocab_file=).
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(
        list(CAPTIONS.values()) * 5, vocab_size=300, special_tokens=["<|endoftext|>"], show_progress=False
    )
    end = "<|endoftext|>"
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=bpe._tokenizer, bos_token=end, eos_token=end, pad_token=end)
    end_id = tokenizer.eos_token_id
    image_processor = ViTImageProcessor(size={"height": 32, "width": 32})
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(
        ViTConfig(
            hidden_size=32,
            intermediate_size=37,
            num_hidden_layers=1,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        GPT2Config(
            vocab_size=len(tokenizer),
            n_embd=32,
            n_layer=1,
            n_head=4,
            n_positions=32,
            bos_token_id=end_id,
            eos_token_id=end_id,
        ),
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


# --- TextDetector ----------------------------------------------------------------------------------------


def build_tiny_trocr(directory: str) -> None:
    """A randomly initialised TrOCR-style model (ViT encoder, TrOCR decoder, hidden size 32) with a
    character tokenizer and an image processor, saved as a real checkpoint would be. It reads every line
    as 6 random letters."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        PreTrainedTokenizerFast,
        TrOCRConfig,
        VisionEncoderDecoderConfig,
        VisionEncoderDecoderModel,
        ViTConfig,
        ViTImageProcessor,
    )

    tokens = ["<pad>", "<s>", "</s>", "<unk>", *"abcdefghijklmnopqrstuvwxyz"]
    vocab = {token: index for index, token in enumerate(tokens)}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Split("", "isolated")  # one token per character
    tokenizer.decoder = decoders.Fuse()
    PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", bos_token="<s>", eos_token="</s>", unk_token="<unk>"
    ).save_pretrained(directory)
    ViTImageProcessor(size={"height": 32, "width": 32}).save_pretrained(directory)

    encoder = ViTConfig(
        hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=32, patch_size=8
    )
    decoder = TrOCRConfig(
        vocab_size=len(vocab),
        d_model=32,
        decoder_layers=1,
        decoder_attention_heads=2,
        decoder_ffn_dim=64,
        max_position_embeddings=64,
        pad_token_id=0,
        bos_token_id=1,
        eos_token_id=2,
        decoder_start_token_id=1,
    )
    config = VisionEncoderDecoderConfig.from_encoder_decoder_configs(encoder, decoder)
    config.decoder_start_token_id, config.pad_token_id, config.eos_token_id = 1, 0, 2
    torch.manual_seed(0)
    model = VisionEncoderDecoderModel(config=config)
    generation = model.generation_config
    generation.decoder_start_token_id, generation.pad_token_id, generation.eos_token_id = 1, 0, 2
    # Random weights could end a line at once; forbidding the special tokens makes every line 6 letters.
    generation.suppress_tokens = [0, 1, 2, 3]
    model.save_pretrained(directory)


# --- TextTranslator --------------------------------------------------------------------------------------

TRANSLATION_PAIRS = [("no smoking", "no fumar"), ("hot soup", "sopa caliente"), ("cold drinks", "bebidas frías")]


def build_tiny_marian(directory: str) -> None:
    """A MarianMT model (en->es, as its tokenizer records) taught the three TRANSLATION_PAIRS by heart:
    enough to check the executor's real inference path."""
    import sentencepiece
    import torch
    from transformers import MarianConfig, MarianMTModel, MarianTokenizer

    spm = _sentencepiece([text for pair in TRANSLATION_PAIRS for text in pair] * 10, vocab_size=40)
    for name in ("source.spm", "target.spm"):
        with open(os.path.join(directory, name), "wb") as file:
            file.write(spm)
    pieces = sentencepiece.SentencePieceProcessor(model_proto=spm)
    vocab = {"</s>": 0, "<unk>": 1, "<pad>": 2}
    for index in range(pieces.get_piece_size()):
        vocab.setdefault(pieces.id_to_piece(index), len(vocab))
    with open(os.path.join(directory, "vocab.json"), "w") as file:
        json.dump(vocab, file)

    tokenizer = MarianTokenizer(
        vocab=os.path.join(directory, "vocab.json"),
        source_spm=os.path.join(directory, "source.spm"),
        target_spm=os.path.join(directory, "target.spm"),
        source_lang="en",
        target_lang="es",
    )
    config = MarianConfig(
        vocab_size=len(vocab),
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_position_embeddings=32,
        pad_token_id=2,
        eos_token_id=0,
        decoder_start_token_id=2,
        forced_eos_token_id=0,
    )
    torch.manual_seed(0)
    model = MarianMTModel(config)
    batch = tokenizer(
        [source for source, _ in TRANSLATION_PAIRS],
        text_target=[target for _, target in TRANSLATION_PAIRS],
        return_tensors="pt",
        padding=True,
    )
    batch["labels"][batch["labels"] == tokenizer.pad_token_id] = -100
    _train(model, dict(batch))
    tokenizer.save_pretrained(directory)
    model.save_pretrained(directory)


# --- SpeechRecognizer ------------------------------------------------------------------------------------


def build_tiny_whisper_checkpoint(path: str) -> None:
    """A random openai-whisper checkpoint file ({"dims", "model_state_dict"}), multilingual vocabulary."""
    import torch
    from whisper.model import ModelDimensions, Whisper

    dims = ModelDimensions(
        n_mels=80,
        n_audio_ctx=1500,
        n_audio_state=64,
        n_audio_head=2,
        n_audio_layer=1,
        n_vocab=51865,
        n_text_ctx=448,
        n_text_state=64,
        n_text_head=2,
        n_text_layer=1,
    )
    torch.manual_seed(0)
    torch.save({"dims": dims.__dict__, "model_state_dict": Whisper(dims).state_dict()}, path)


WHISPER_LANGUAGES = ["en", "es", "de", "fr"]  # the languages build_tiny_transformers_whisper's model knows


def build_tiny_transformers_whisper(directory: str) -> None:
    """A random WhisperForConditionalGeneration with a processor built offline, knowing WHISPER_LANGUAGES."""
    import torch
    from tokenizers import pre_tokenizers
    from transformers import (
        AddedToken,
        GenerationConfig,
        WhisperConfig,
        WhisperFeatureExtractor,
        WhisperForConditionalGeneration,
        WhisperProcessor,
        WhisperTokenizer,
    )

    # Byte-level BPE with no merges: every byte is a token. Then Whisper's special tokens, and the
    # timestamp tokens after them (the tokenizer finds timestamps as "ids above the last special token").
    vocab = {character: index for index, character in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tokenizer = WhisperTokenizer(vocab=vocab, merges=[])
    specials = (
        ["<|startoftranscript|>"]
        + [f"<|{code}|>" for code in WHISPER_LANGUAGES]
        + ["<|translate|>", "<|transcribe|>", "<|startoflm|>", "<|startofprev|>", "<|nocaptions|>", "<|notimestamps|>"]
    )
    tokenizer.add_special_tokens({"additional_special_tokens": specials})
    tokenizer.add_tokens([AddedToken("<|%.2f|>" % (i * 0.02), lstrip=False, rstrip=False) for i in range(1501)])
    token_id = tokenizer.convert_tokens_to_ids
    end_of_text, start_of_transcript = token_id("<|endoftext|>"), token_id("<|startoftranscript|>")

    config = WhisperConfig(
        vocab_size=len(tokenizer),
        num_mel_bins=80,
        d_model=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        max_source_positions=1500,
        max_target_positions=64,
        pad_token_id=end_of_text,
        bos_token_id=end_of_text,
        eos_token_id=end_of_text,
        decoder_start_token_id=start_of_transcript,
        begin_suppress_tokens=[],
        suppress_tokens=[],
    )
    torch.manual_seed(0)
    model = WhisperForConditionalGeneration(config)
    model.generation_config = GenerationConfig(
        decoder_start_token_id=start_of_transcript,
        eos_token_id=end_of_text,
        pad_token_id=end_of_text,
        bos_token_id=end_of_text,
        is_multilingual=True,
        max_length=64,
        max_initial_timestamp_index=50,
        lang_to_id={f"<|{code}|>": token_id(f"<|{code}|>") for code in WHISPER_LANGUAGES},
        task_to_id={"transcribe": token_id("<|transcribe|>"), "translate": token_id("<|translate|>")},
        no_timestamps_token_id=token_id("<|notimestamps|>"),
        prev_sot_token_id=token_id("<|startofprev|>"),
        begin_suppress_tokens=[],
        suppress_tokens=[],
    )
    WhisperProcessor(feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer).save_pretrained(
        directory
    )
    model.save_pretrained(directory)


# --- SpeechSynthesizer -----------------------------------------------------------------------------------

VOCODER_RATE = 22_050  # not SpeechT5's usual 16 kHz, so a test can show where the rate comes from


def build_tiny_speecht5(directory: str) -> tuple[str, str]:
    """A random SpeechT5 text-to-speech model (16 mel bins, 8-value speaker embeddings) and a HiFi-GAN
    vocoder at VOCODER_RATE, saved in two directories under `directory`: (model_dir, vocoder_dir)."""
    import torch
    from transformers import (
        SpeechT5Config,
        SpeechT5FeatureExtractor,
        SpeechT5ForTextToSpeech,
        SpeechT5HifiGan,
        SpeechT5HifiGanConfig,
        SpeechT5Processor,
        SpeechT5Tokenizer,
    )

    model_dir, vocoder_dir = os.path.join(directory, "speecht5"), os.path.join(directory, "hifigan")
    corpus = ["hello world", "good morning", "open the window please", "the library is closed"] * 10
    os.makedirs(model_dir)
    spm_path = os.path.join(directory, "spm.model")
    with open(spm_path, "wb") as file:
        file.write(_sentencepiece(corpus, vocab_size=30))
    tokenizer = SpeechT5Tokenizer(vocab_file=spm_path)
    SpeechT5Processor(tokenizer=tokenizer, feature_extractor=SpeechT5FeatureExtractor(num_mel_bins=16)).save_pretrained(
        model_dir
    )
    config = SpeechT5Config(
        vocab_size=len(tokenizer),
        hidden_size=32,
        encoder_layers=1,
        decoder_layers=1,
        encoder_attention_heads=2,
        decoder_attention_heads=2,
        encoder_ffn_dim=64,
        decoder_ffn_dim=64,
        num_mel_bins=16,
        speech_decoder_prenet_units=32,
        speech_decoder_postnet_layers=1,
        speech_decoder_postnet_units=32,
        speaker_embedding_dim=8,
        max_speech_positions=600,
        max_text_positions=100,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
    )
    vocoder_config = SpeechT5HifiGanConfig(
        model_in_dim=16,
        upsample_initial_channel=32,
        upsample_rates=[4, 4],
        upsample_kernel_sizes=[8, 8],
        resblock_kernel_sizes=[3],
        resblock_dilation_sizes=[[1, 3]],
        sampling_rate=VOCODER_RATE,
    )
    torch.manual_seed(0)
    SpeechT5ForTextToSpeech(config).save_pretrained(model_dir)
    SpeechT5HifiGan(vocoder_config).save_pretrained(vocoder_dir)
    return model_dir, vocoder_dir
