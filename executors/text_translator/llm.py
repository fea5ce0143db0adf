"""Translation with a large language model that sees the whole page (backend `llm`).

Comic translators' tools translate with LLMs that read the page as a whole and remember earlier pages; a
block translated alone loses who speaks, what "it" is and how a name was rendered two pages ago. This
backend sends one page per call: its blocks in reading order, numbered, with their kind (balloon, caption,
sign), plus what the job has established so far (a short summary and the terms already chosen) and the
glossary. The answer is constrained to JSON (the server's `response_format` json schema, or a llama.cpp
grammar in-process) and parsed strictly; a block missing from the answer is asked for once more, and the
executor translates what is still missing with its fallback backend and flags it.

Two ways to reach a model:
- `endpoint`: any OpenAI-compatible chat completions server (llama.cpp's `llama-server`, Ollama, vLLM, a
  hosted API), by URL and model name; the API key comes from an environment variable named in the
  configuration (`api_key_env`), never from the configuration itself;
- `model_file`: a GGUF file run in-process by llama-cpp-python (a name from transmodal.model_store, such as
  `gemma3-270m`, or a path).
"""

from __future__ import annotations

import ctypes
import dataclasses
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Protocol

from transmodal import languages
from transmodal.errors import ConfigurationError, ModelNotFoundError, TransmodalError

logger = logging.getLogger("transmodal")

# English averages about four characters per token in the tokenizers of current LLMs; the context budget
# is a bound on prompt growth, not an exact count, so an estimate that needs no tokenizer is enough.
CHARACTERS_PER_TOKEN = 4


class LLMEndpointError(TransmodalError):
    """The model could not be reached or did not answer in time: the page cannot be translated now."""


@dataclasses.dataclass
class Block:
    """One text block of a page, as the model is shown it."""

    text: str
    kind: str = "text"  # balloon, caption, sign, sfx or text (TextRegion.kind)


@dataclasses.dataclass
class JobContext:
    """What earlier pages of a job established: carried into the next page's prompt, bounded in tokens."""

    summary: str = ""
    terms: dict[str, str] = dataclasses.field(default_factory=dict)  # source term -> target chosen by the model
    pages: int = 0


@dataclasses.dataclass
class ChatAnswer:
    text: str
    prompt_tokens: int
    completion_tokens: int


@dataclasses.dataclass
class PageTranslation:
    """The model's translation of one page: one entry per block, None where it gave nothing usable."""

    translations: list[str | None]
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    calls: int = 0


class Chat(Protocol):
    """One chat completion whose answer follows a JSON schema."""

    def complete(self, messages: list[dict[str, str]], schema: dict, max_tokens: int) -> ChatAnswer: ...


def estimated_tokens(text: str) -> int:
    return (len(text) + CHARACTERS_PER_TOKEN - 1) // CHARACTERS_PER_TOKEN


def page_schema(ids: list[int], source_lengths: list[int]) -> dict:
    """The JSON the model must answer with: one translation per block, in order, each with its number
    fixed (`const`) and a length bound (three times its source, so a looping small model still ends), a
    short summary and a few new terms. Servers and llama.cpp's grammar enforce the whole shape."""

    def bounded_string(length: int) -> dict:
        return {"type": "string", "maxLength": length}

    def block(block_id: int, source_length: int) -> dict:
        return {
            "type": "object",
            "properties": {"id": {"const": block_id}, "text": bounded_string(max(40, 3 * source_length))},
            "required": ["id", "text"],
            "additionalProperties": False,
        }

    return {
        "type": "object",
        "properties": {
            "translations": {
                "type": "array",
                "prefixItems": [block(block_id, length) for block_id, length in zip(ids, source_lengths)],
                "minItems": len(ids),
                "maxItems": len(ids),
                "items": False,
            },
            "summary": bounded_string(400),
            "terms": {
                "type": "array",
                "maxItems": 8,
                "items": {
                    "type": "object",
                    "properties": {"source": bounded_string(60), "target": bounded_string(60)},
                    "required": ["source", "target"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["translations", "summary", "terms"],
        "additionalProperties": False,
    }


def parse_page_answer(answer: str, ids: list[int]) -> tuple[dict[int, str], str, dict[str, str]]:
    """The translations by block number, the summary and the terms of an answer, parsed strictly: anything
    but a JSON object of the schema's shape counts as no answer, and a block with an unknown number, a
    repeated number or an empty text counts as missing (so it is asked for again rather than guessed)."""
    # Reasoning models (DeepSeek-R1 and its distillations) think aloud before answering when the server
    # does not constrain the output: the answer is what follows the thinking.
    answer = re.sub(r"^\s*<think>.*?</think>", "", answer, flags=re.DOTALL).strip()
    try:
        # strict=False admits raw control characters (a newline) inside strings: llama-cpp-python's grammar
        # for JSON strings lets them through. Everything else about the shape is checked below.
        parsed = json.loads(answer, strict=False)
    except json.JSONDecodeError:
        return {}, "", {}
    if not isinstance(parsed, dict) or not isinstance(parsed.get("translations"), list):
        return {}, "", {}
    translations: dict[int, str] = {}
    repeated: set[int] = set()
    for item in parsed["translations"]:
        if not isinstance(item, dict):
            continue
        block_id, text = item.get("id"), item.get("text")
        if not isinstance(block_id, int) or block_id not in ids or not isinstance(text, str) or not text.strip():
            continue
        if echoes_template(text):
            continue
        if block_id in translations:
            repeated.add(block_id)
        translations[block_id] = " ".join(text.split())  # one block, one paragraph: the renderer wraps it
    for block_id in repeated:  # two answers for one block: neither can be trusted
        del translations[block_id]
    raw_summary, raw_terms = parsed.get("summary"), parsed.get("terms")
    summary = raw_summary.strip() if isinstance(raw_summary, str) and not echoes_template(raw_summary) else ""
    terms: dict[str, str] = {}
    for item in raw_terms if isinstance(raw_terms, list) else []:
        if isinstance(item, dict) and isinstance(item.get("source"), str) and isinstance(item.get("target"), str):
            if (
                item["source"].strip()
                and item["target"].strip()
                and not echoes_template(item["source"] + item["target"])
            ):
                terms[item["source"].strip()] = item["target"].strip()
    return translations, summary, terms


# A block's answer counts as written in the target language when at least this share of its letters are in
# words of the language's word list (names of the glossary counted as known). Rule-based MT into Spanish
# scores about 0.9 on comic balloons; an English copy or a small model's babble ("I'M A FAHRENHEIT!") 0.1.
MIN_TARGET_WORD_SHARE = 0.5
MIN_LETTERS_CHECKED = 6  # shorter answers ("¡NO!", "OK") are too short to judge


def plausible_translations(
    translations: dict[int, str], sources: dict[int, str], target: str, glossary: dict[str, str]
) -> dict[int, str]:
    """The answers that look like translations into `target`: not in another language (by the target's word
    list, where one is installed), and not one text given to three or more blocks with different sources (a
    model repeating itself). The others count as missing: asked for again, then left to the fallback."""
    from transmodal import words

    repeated = {
        text
        for text in set(translations.values())
        if len({sources[i] for i, answer in translations.items() if answer == text}) >= 3
    }
    kept = {}
    for block_id, text in translations.items():
        if text in repeated:
            continue
        known, unknown = words.word_score(text, target, keep=list(glossary) + list(glossary.values()))
        letters = known - unknown
        if words.vocabulary(target) is not None and letters >= MIN_LETTERS_CHECKED:
            if known / letters < MIN_TARGET_WORD_SHARE:
                continue
        kept[block_id] = text
    if len(kept) < len(translations):
        rejected = len(translations) - len(kept)
        logger.info("LLM answer: %d block(s) not in %s or repeated: asking again", rejected, target)
    return kept


def echoes_template(text: str) -> bool:
    """Whether a field repeats a placeholder of the instructions ("<translation>"): small models copy them."""
    text = text.strip()
    return text.startswith("<") and text.endswith(">")


class EndpointChat:
    """An OpenAI-compatible `/chat/completions` endpoint, with a timeout per call, retries with exponential
    backoff on timeouts, refused connections, 429 and 5xx answers, and at most `max_concurrent` calls in
    flight per endpoint URL in this process (other executor replicas have their own)."""

    _limits: dict[str, threading.BoundedSemaphore] = {}
    _limits_lock = threading.Lock()

    def __init__(
        self,
        endpoint: str,
        model: str,
        api_key_env: str | None = None,
        timeout: float = 120.0,
        retries: int = 2,
        backoff: float = 1.0,
        max_concurrent: int = 4,
        response_format: str = "json_schema",
        temperature: float = 0.0,
    ):
        if response_format not in ("json_schema", "json_object", "none"):
            raise ConfigurationError(
                f"response_format must be json_schema, json_object or none, got {response_format!r}"
            )
        self.url = endpoint.rstrip("/") + "/chat/completions"
        # A URL may carry credentials (https://user:secret@host): messages and logs show it without them.
        parts = urllib.parse.urlsplit(self.url)
        self.shown_url = urllib.parse.urlunsplit(parts._replace(netloc=parts.hostname or "", query=""))
        if parts.port:
            self.shown_url = self.shown_url.replace(parts.hostname or "", f"{parts.hostname}:{parts.port}", 1)
        self.model = model
        self.api_key = None
        if api_key_env:
            self.api_key = os.environ.get(api_key_env)
            if not self.api_key:
                raise ConfigurationError(
                    f"the LLM endpoint's API key is read from the environment variable {api_key_env}, which is "
                    f"not set: set it in the executor's environment (or remove api_key_env for a server "
                    f"without keys)"
                )
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.response_format = response_format
        self.temperature = temperature
        with self._limits_lock:
            self.limit = self._limits.setdefault(self.url, threading.BoundedSemaphore(max_concurrent))

    def _request_body(self, messages: list[dict[str, str]], schema: dict, max_tokens: int) -> bytes:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": self.temperature,
        }
        if self.response_format == "json_schema":  # llama.cpp server, vLLM, Ollama (>= 0.5), OpenAI
            body["response_format"] = {"type": "json_schema", "json_schema": {"name": "page", "schema": schema}}
        elif self.response_format == "json_object":  # servers that only promise valid JSON
            body["response_format"] = {"type": "json_object"}
        return json.dumps(body).encode()

    def complete(self, messages: list[dict[str, str]], schema: dict, max_tokens: int) -> ChatAnswer:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        request = urllib.request.Request(
            self.url, data=self._request_body(messages, schema, max_tokens), headers=headers, method="POST"
        )
        attempts = self.retries + 1
        cause = ""
        for attempt in range(attempts):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            try:
                with self.limit, urllib.request.urlopen(request, timeout=self.timeout) as response:
                    reply = json.loads(response.read())
                break
            except urllib.error.HTTPError as error:
                detail = error.read(500).decode(errors="replace").strip()
                if error.code != 429 and error.code < 500:  # the request itself is wrong: retrying cannot help
                    raise LLMEndpointError(
                        f"the LLM endpoint {self.shown_url} refused the request (HTTP {error.code}: {detail}); "
                        f"check backend_options (model name {self.model!r}, api_key_env, response_format: "
                        f"use json_object or none for a server without json_schema support)"
                    ) from None
                cause = f"answered HTTP {error.code} ({detail[:200]})"
            except TimeoutError:
                cause = f"did not answer within {self.timeout:g} s"
            except urllib.error.URLError as error:
                if isinstance(error.reason, TimeoutError):
                    cause = f"did not answer within {self.timeout:g} s"
                else:
                    cause = f"could not be reached ({error.reason})"
            except (ConnectionError, json.JSONDecodeError) as error:
                cause = f"broke off or sent no JSON ({type(error).__name__})"
            logger.warning("LLM endpoint %s %s (attempt %d of %d)", self.shown_url, cause, attempt + 1, attempts)
        else:
            raise LLMEndpointError(
                f"the LLM endpoint {self.shown_url} {cause}, {attempts} attempt(s): check the server is running "
                f"and reachable from the executor, or raise backend_options.timeout for a slow model; then "
                f"send the page again"
            )
        try:
            text = reply["choices"][0]["message"]["content"] or ""
        except (KeyError, IndexError, TypeError):
            text = ""  # parsed as no answer: the page's blocks are retried, then fall back
        usage = reply.get("usage") or {}
        return ChatAnswer(text, int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0))


class LlamaCppChat:
    """A GGUF model run in-process by llama-cpp-python, its answer constrained by a grammar made from the
    JSON schema (LazyGrammar). One call at a time: a llama.cpp context is not safe to share between threads."""

    def __init__(
        self,
        model_file: str,
        context_tokens: int = 4096,
        threads: int | None = None,
        temperature: float = 0.0,
        chat_format: str | None = None,
    ):
        try:
            from llama_cpp import Llama
        except ImportError as error:
            raise ConfigurationError(
                "backend llm with model_file needs llama-cpp-python: pip install 'transmodal[llm]' (it compiles "
                "llama.cpp, about 20 minutes on 2 cores), or serve the model with llama.cpp's llama-server and "
                "set backend_options.endpoint instead"
            ) from error
        self.path = resolve_model_file(model_file)
        self.llama = Llama(
            model_path=str(self.path),
            n_ctx=context_tokens,
            n_threads=threads or os.cpu_count() or 1,
            chat_format=chat_format,
            verbose=False,
        )
        self.temperature = temperature
        self.lock = threading.Lock()

    def complete(self, messages: list[dict[str, str]], schema: dict, max_tokens: int) -> ChatAnswer:
        from llama_cpp import LogitsProcessorList

        with self.lock:
            grammar = LazyGrammar(self.llama, schema)
            try:
                reply = self.llama.create_chat_completion(
                    messages=messages,  # type: ignore[arg-type]
                    logits_processor=LogitsProcessorList([grammar]),
                    max_tokens=max_tokens,
                    temperature=self.temperature,
                )
            finally:
                grammar.close()
        usage = reply.get("usage") or {}  # type: ignore[union-attr]
        return ChatAnswer(
            reply["choices"][0]["message"]["content"] or "",  # type: ignore[index]
            int(usage.get("prompt_tokens") or 0),
            int(usage.get("completion_tokens") or 0),
        )


class LazyGrammar:
    """A llama.cpp grammar applied the way llama.cpp's own server applies it: the model's likeliest token is
    checked alone, and only when the grammar rejects it is the whole vocabulary filtered.

    llama-cpp-python's `response_format` filters all of the vocabulary at every token: with Gemma's 262,144
    tokens that is about 1.5 s a token on 2 cores (measured), against milliseconds for one check. Filtering
    fewer candidates first (top-k) is no way out: when none of them fits, llama.cpp aborts the process.
    Used as a logits processor: it sees the sequence so far (accepting each new token into the grammar) and
    leaves only grammatical tokens possible for the greedy pick that follows."""

    def __init__(self, llama: Any, schema: dict):
        import llama_cpp

        self.api = llama_cpp
        grammar = llama_cpp.LlamaGrammar.from_json_schema(json.dumps(schema), verbose=False)
        self.sampler = llama_cpp.llama_sampler_init_grammar(
            llama._model.vocab, grammar._grammar.encode(), grammar._root.encode()
        )
        self.seen = -1  # length of the sequence at the last call (-1: first call, the prompt)

    def _allowed(self, token_ids, logits):
        """The logits with every token the grammar rejects at -inf (one llama_sampler_apply over them)."""
        import numpy as np

        data = np.recarray(
            (len(token_ids),), dtype=np.dtype([("id", np.intc), ("logit", np.single), ("p", np.single)], align=True)
        )
        data.id[:], data.logit[:], data.p[:] = token_ids, logits, 0.0
        candidates = self.api.llama_token_data_array(
            data=data.ctypes.data_as(self.api.llama_token_data_p), size=len(token_ids), selected=-1, sorted=False
        )
        self.api.llama_sampler_apply(self.sampler, ctypes.byref(candidates))
        return data.logit

    def __call__(self, input_ids, scores):
        import numpy as np

        if self.seen >= 0:
            for token in input_ids[self.seen :]:
                self.api.llama_sampler_accept(self.sampler, int(token))
        self.seen = len(input_ids)
        # The likeliest token alone, then the 256 likeliest, then (rarely) the whole vocabulary: the first
        # set with a grammatical token decides, so the greedy pick is the same as with a full filter.
        for size in (1, 256, len(scores)):
            token_ids = np.argpartition(-scores, size - 1)[:size].astype(np.intc) if size < len(scores) else None
            if token_ids is None:
                token_ids = np.arange(len(scores), dtype=np.intc)
            allowed = self._allowed(token_ids, scores[token_ids])
            if np.isfinite(allowed).any():
                filtered = np.full_like(scores, -np.inf)
                filtered[token_ids] = allowed
                return filtered
        return scores  # nothing grammatical at all (the grammar is complete): end of generation follows

    def close(self) -> None:
        self.api.llama_sampler_free(self.sampler)


def resolve_model_file(model_file: str) -> Path:
    """A GGUF path, or the name of a stored model (transmodal.model_store) whose folder holds one."""
    from transmodal import model_store

    if model_file in model_store.MODELS:
        folder = model_store.installed(model_file)  # ModelNotFoundError naming the install command
        return next(folder.glob("*.gguf"))
    path = Path(model_file).expanduser()
    if not path.is_file():
        raise ModelNotFoundError(
            f"GGUF model file {model_file!r} not found; give a path, or a stored model name "
            f"({', '.join(sorted(model_store.MODELS))}) installed with `python -m transmodal.model_store install NAME`"
        )
    return path


class LLMTranslator:
    """The page-at-a-time translator. `translate_page` is what the executor calls; `translate` (texts
    without a page) makes it a plain Translator too, one call per list of texts."""

    def __init__(
        self,
        endpoint: str | None = None,
        model: str | None = None,
        model_file: str | None = None,
        api_key_env: str | None = None,
        timeout: float = 120.0,
        retries: int = 2,
        backoff: float = 1.0,
        max_concurrent: int = 4,
        response_format: str = "json_schema",
        context_tokens: int = 4096,
        context_budget: int = 400,
        max_answer_tokens: int = 2048,
        threads: int | None = None,
        chat_format: str | None = None,
        temperature: float = 0.0,
    ):
        if bool(endpoint) == bool(model_file):
            raise ConfigurationError(
                "backend llm needs either backend_options.endpoint (an OpenAI-compatible server's URL, with "
                "model) or backend_options.model_file (a GGUF file or stored model name), not both or neither"
            )
        self.chat: Chat
        if endpoint:
            if not model:
                raise ConfigurationError("backend llm with an endpoint needs backend_options.model (the served name)")
            self.chat = EndpointChat(
                endpoint, model, api_key_env, timeout, retries, backoff, max_concurrent, response_format, temperature
            )
        else:
            assert model_file is not None
            self.chat = LlamaCppChat(model_file, context_tokens, threads, temperature, chat_format)
        self.context_budget = context_budget  # tokens of summary + earlier terms carried to the next page
        self.max_answer_tokens = max_answer_tokens

    def check_pair(self, source: str, target: str) -> None:
        """Any pair: whether the model knows the languages shows in its answers, not in a list."""

    def translate(self, texts: list[str], source: str, target: str) -> list[str]:
        result = self.translate_page([Block(text) for text in texts], source, target, {}, JobContext())
        return [
            translation if translation is not None else text for translation, text in zip(result.translations, texts)
        ]

    def translate_page(
        self, blocks: list[Block], source: str, target: str, glossary: dict[str, str], context: JobContext
    ) -> PageTranslation:
        """Translate a page's blocks in one call; blocks missing or malformed in the answer are asked for
        once more. Updates `context` (summary, terms) for the job's next page."""
        result = PageTranslation(translations=[None] * len(blocks))
        wanted = list(range(len(blocks)))
        for _ in range(2):  # the call, and one retry for the blocks it did not answer properly
            ids = [index + 1 for index in wanted]
            messages = self._messages([blocks[index] for index in wanted], ids, source, target, glossary, context)
            started = time.perf_counter()
            schema = page_schema(ids, [len(blocks[index].text) for index in wanted])
            answer = self.chat.complete(messages, schema, self.max_answer_tokens)
            result.seconds += time.perf_counter() - started
            result.calls += 1
            result.prompt_tokens += answer.prompt_tokens
            result.completion_tokens += answer.completion_tokens
            translations, summary, terms = parse_page_answer(answer.text, ids)
            translations = plausible_translations(
                translations, {block_id: blocks[block_id - 1].text for block_id in ids}, target, glossary
            )
            for block_id, text in translations.items():
                result.translations[block_id - 1] = text
            if translations:
                self._remember(context, summary, terms)
            wanted = [index for index in wanted if result.translations[index] is None]
            if not wanted:
                break
            logger.info("LLM answer lacked %d of %d block(s): asking again", len(wanted), len(blocks))
        context.pages += 1
        return result

    def _remember(self, context: JobContext, summary: str, terms: dict[str, str]) -> None:
        """Keep the newest summary and terms within the token budget: the summary gets half, the terms the
        rest, the most recent kept when older ones do not fit."""
        if summary:
            limit = self.context_budget // 2 * CHARACTERS_PER_TOKEN
            context.summary = summary[:limit]
        for source, target in terms.items():
            context.terms.pop(source, None)
            context.terms[source] = target  # re-inserted: the dict's order is from oldest to newest use
        budget = self.context_budget - estimated_tokens(context.summary)
        while context.terms and sum(estimated_tokens(f"{s} = {t}; ") for s, t in context.terms.items()) > budget:
            del context.terms[next(iter(context.terms))]

    @staticmethod
    def _messages(
        blocks: list[Block],
        ids: list[int],
        source: str,
        target: str,
        glossary: dict[str, str],
        context: JobContext,
    ) -> list[dict[str, str]]:
        source_name, target_name = languages.name(source), languages.name(target)
        instructions = (
            f"You translate comic pages from {source_name} to {target_name}. You get the page's text blocks in "
            f"reading order, numbered, each with its kind (balloon: speech; caption: narration; sign: text in "
            f"the picture). Translate every block into natural {target_name} that fits a comic, using the whole "
            f"page and the story so far to resolve who speaks and what words refer to. Answer with JSON only: "
            '{"translations": [{"id": <block number>, "text": "<translation>"}, ...], '
            '"summary": "<the story so far in two sentences>", '
            '"terms": [{"source": "<name or term>", "target": "<how you translated it>"}, ...]}.'
        )
        lines = []
        if context.summary:
            lines.append(f"Story so far: {context.summary}")
        if context.terms:
            lines.append(
                "Terms already chosen (use them again): " + "; ".join(f"{s} = {t}" for s, t in context.terms.items())
            )
        kept = [term for term, translation in glossary.items() if translation == "keep"]
        fixed = {term: translation for term, translation in glossary.items() if translation != "keep"}
        if kept:
            lines.append("Names to keep exactly as written, never translated: " + ", ".join(kept))
        if fixed:
            lines.append("Required translations: " + "; ".join(f"{s} = {t}" for s, t in fixed.items()))
        lines.append(f"Blocks ({source_name}):")
        lines += [f"{block_id} [{block.kind}] {block.text}" for block_id, block in zip(ids, blocks)]
        return [{"role": "system", "content": instructions}, {"role": "user", "content": "\n".join(lines)}]
