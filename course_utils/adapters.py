"""Other places to get a next-token distribution from, behind one small interface. Opt-in only.

The course runs on its bundled numpy model and never needs any of this. These adapters let a
learner put the same question to other implementations and compare:

    source.top_logprobs(prompt, k=5) -> list[TokenLogprob]   # the k most likely next tokens

* `LocalModel(load_model())`  -- the course's own numpy model.
* `TransformersModel.bundled()` -- the same GGUF file run by Hugging Face transformers + torch
  (the `reference` extra). It also has the course model's interface (`encode`, `decode`,
  `token_text`, `vocab_size`, `next_token_logits`, `chat_prompt`, `eos_ids`), so
  `course_utils.generation.generate` works on it too. `TransformersModel.from_pretrained(name)`
  loads any causal LM by Hugging Face name -- that downloads it, so only when you ask.
* `OpenAICompatible()` -- any OpenAI-compatible HTTP endpoint (OpenAI, llama.cpp's
  `llama-server`, vLLM, ...), which returns only the top few log-probabilities, never the full
  distribution. Configure it with arguments or the environment variables `OPENAI_BASE_URL`
  (default https://api.openai.com/v1), `OPENAI_API_KEY` and `OPENAI_MODEL`; local servers
  accept any key. `openai_endpoint_status()` says whether one is configured, and why not.

Nothing here touches the network unless you construct `OpenAICompatible` and call it, or
pass a Hub name to `TransformersModel.from_pretrained`.
"""

from __future__ import annotations

import json
import math
import os
import urllib.error
import urllib.request
from typing import NamedTuple

import numpy as np

from course_utils import sampling
from course_utils import checks
from course_utils.tokenizer import visible

OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"
OPENAI_DEFAULT_MODEL = "gpt-4o-mini"
# Chat Completions allows up to 20 top_logprobs (the legacy Completions API, 5).
MAX_TOP_LOGPROBS = 20


class TokenLogprob(NamedTuple):
    """One candidate next token and its log-probability (natural log)."""

    token: str
    logprob: float

    @property
    def prob(self) -> float:
        return math.exp(self.logprob)

    @property
    def token_text(self) -> str:
        """The token for display, whitespace made visible."""
        return visible(self.token)


def _check_k(k) -> int:
    return checks.whole_number(k, "k", minimum=1, maximum=MAX_TOP_LOGPROBS, hint="It is how many top tokens to list.")


def _top_from_logits(logits: np.ndarray, k: int, decode_one) -> list[TokenLogprob]:
    logprobs = sampling.log_softmax(logits)
    best = np.argsort(-logprobs, kind="stable")[:k]
    return [TokenLogprob(decode_one(int(i)), float(logprobs[i])) for i in best]


class LocalModel:
    """The course's numpy model behind the adapter interface."""

    def __init__(self, model):
        self.model = model
        self.name = f"{model.name} (numpy, this course)"

    def top_logprobs(self, prompt: str, k: int = 5) -> list[TokenLogprob]:
        logits = self.model.next_token_logits(self.model.encode(prompt))
        return _top_from_logits(logits, _check_k(k), lambda i: self.model.decode([i]))


class TransformersModel:
    """A Hugging Face transformers causal LM with the course model's interface (torch, CPU): an
    `interface.LanguageModel`, so generate(), the explorers and the exercises run on it."""

    _loaded: dict[tuple, TransformersModel] = {}
    #: What it cannot serve, said where a feature asks for it (`interface.require`).
    limitations = (
        "TransformersModel serves generate() one token at a time (next_token_logits); it has no "
        "batched forward pass with a KV cache (generate_batch, num_beams > 1, speculative decoding) and no "
        "course tokenizer for llguidance (json_schema=, grammar=). Use model.load_model() for those."
    )

    def __init__(self, hf_model, hf_tokenizer, name: str):
        self.hf_model = hf_model
        self.hf_tokenizer = hf_tokenizer
        self.name = name
        self.vocab_size = int(hf_model.config.vocab_size)
        eos = {hf_tokenizer.eos_token_id}
        eos |= {hf_tokenizer.convert_tokens_to_ids(t) for t in ("<|im_end|>", "<|endoftext|>") if t in hf_tokenizer.get_vocab()}
        self.eos_ids = frozenset(int(i) for i in eos if i is not None)

    @classmethod
    def from_pretrained(cls, name_or_path: str, *, gguf_file: str | None = None, threads: int | None = None) -> TransformersModel:
        """Load (once per kernel) a model by Hub name or local folder; a Hub name downloads it."""
        key = (str(name_or_path), gguf_file)
        if key not in cls._loaded:
            try:
                import torch
                from transformers import AutoModelForCausalLM, AutoTokenizer
            except ImportError as error:
                raise ImportError(
                    "TransformersModel needs torch and transformers (the course's `reference` extra): "
                    "pip install -e '.[reference]'"
                ) from error
            if threads is not None:
                torch.set_num_threads(threads)
            tokenizer = AutoTokenizer.from_pretrained(name_or_path, gguf_file=gguf_file)
            model = AutoModelForCausalLM.from_pretrained(name_or_path, gguf_file=gguf_file, dtype=torch.float32)
            model.eval()
            cls._loaded[key] = cls(model, tokenizer, name=f"{gguf_file or name_or_path} (transformers)")
        return cls._loaded[key]

    @classmethod
    def bundled(cls, threads: int | None = None) -> TransformersModel:
        """The course's own GGUF file, loaded by transformers' GGUF reader (offline)."""
        from course_utils.model import bundled_model_path

        path = bundled_model_path()
        return cls.from_pretrained(str(path.parent), gguf_file=path.name, threads=threads)

    def encode(self, text: str) -> list[int]:
        return list(self.hf_tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids) -> str:
        return self.hf_tokenizer.decode(list(ids))

    def token_text(self, token_id: int) -> str:
        return visible(self.decode([token_id]))

    def chat_prompt(self, user_message: str) -> str:
        messages = [{"role": "user", "content": user_message}]
        return self.hf_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def next_token_logits(self, ids) -> np.ndarray:
        """Scores for the next token (float32, (vocab_size,)); runs the whole sequence each call."""
        import torch

        with torch.no_grad():
            logits = self.hf_model(torch.tensor([list(ids)], dtype=torch.long)).logits[0, -1]
        return logits.float().numpy()

    def top_logprobs(self, prompt: str, k: int = 5) -> list[TokenLogprob]:
        return _top_from_logits(self.next_token_logits(self.encode(prompt)), _check_k(k), lambda i: self.decode([i]))


class EndpointNotConfigured(RuntimeError):
    """No OpenAI-compatible endpoint was given (no API key)."""


def openai_endpoint_status() -> tuple[bool, str]:
    """(configured?, why): whether OPENAI_API_KEY is set, for notebooks and tests to skip cleanly."""
    if not os.environ.get("OPENAI_API_KEY"):
        return False, (
            "No OpenAI-compatible endpoint configured: set OPENAI_API_KEY (and OPENAI_BASE_URL for a "
            "server other than OpenAI's, OPENAI_MODEL for the model) to try this."
        )
    base_url = os.environ.get("OPENAI_BASE_URL", OPENAI_DEFAULT_BASE_URL)
    return True, f"endpoint {base_url} configured by OPENAI_API_KEY"


class OpenAICompatible:
    """Next-token `top_logprobs` from an OpenAI-compatible endpoint (standard library HTTP only).

    api="chat" asks /chat/completions (the prompt is sent as one user message, so the model's own
    chat template applies); api="completions" asks the legacy /completions with the raw prompt,
    which llama.cpp's server and vLLM support and which matches the course model's plain mode.
    """

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        api: str = "chat",
        timeout: float = 30.0,
    ):
        self.api_key = api_key or os.environ.get("OPENAI_API_KEY")
        if not self.api_key:
            raise EndpointNotConfigured(openai_endpoint_status()[1].replace(" to try this", ", or pass api_key="))
        self.base_url = (base_url or os.environ.get("OPENAI_BASE_URL") or OPENAI_DEFAULT_BASE_URL).rstrip("/")
        self.model = model or os.environ.get("OPENAI_MODEL")
        if self.model is None:
            if self.base_url != OPENAI_DEFAULT_BASE_URL:
                raise EndpointNotConfigured(f"Which model should {self.base_url} run? Pass model= or set OPENAI_MODEL.")
            self.model = OPENAI_DEFAULT_MODEL
        if api not in ("chat", "completions"):
            raise ValueError(f"api must be 'chat' or 'completions', got {api!r}.")
        self.api = api
        self.timeout = timeout
        self.name = f"{self.model} at {self.base_url}"

    def top_logprobs(self, prompt: str, k: int = 5) -> list[TokenLogprob]:
        """The `k` most likely first tokens of the endpoint's reply to `prompt`."""
        if not isinstance(prompt, str):
            raise TypeError(f"prompt must be a str, got {type(prompt).__name__}.")
        k = _check_k(k)
        if self.api == "chat":
            body = {
                "model": self.model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": 1,
                "logprobs": True,
                "top_logprobs": k,
            }
            return parse_chat_top_logprobs(self._post("/chat/completions", body))[:k]
        body = {"model": self.model, "prompt": prompt, "max_tokens": 1, "logprobs": k}
        return parse_completions_top_logprobs(self._post("/completions", body))[:k]

    def _post(self, route: str, body: dict) -> dict:
        request = urllib.request.Request(
            self.base_url + route,
            data=json.dumps(body).encode("utf-8"),
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {self.api_key}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read().decode("utf-8"))
        except urllib.error.HTTPError as error:
            detail = error.read().decode("utf-8", errors="replace")[:300]
            raise RuntimeError(f"{self.base_url}{route} answered HTTP {error.code}: {detail}") from None
        except urllib.error.URLError as error:
            raise ConnectionError(f"Could not reach {self.base_url}: {error.reason}") from None


def parse_chat_top_logprobs(response: dict) -> list[TokenLogprob]:
    """Chat Completions: choices[0].logprobs.content[0].top_logprobs = [{token, logprob}, ...]."""
    try:
        first = response["choices"][0]["logprobs"]["content"][0]
        entries = first["top_logprobs"]
        ranked = [TokenLogprob(str(e["token"]), float(e["logprob"])) for e in entries]
    except (KeyError, IndexError, TypeError) as error:
        raise ValueError(_no_logprobs_message(response)) from error
    return sorted(ranked, key=lambda t: -t.logprob)


def parse_completions_top_logprobs(response: dict) -> list[TokenLogprob]:
    """Legacy Completions: choices[0].logprobs.top_logprobs[0] = {token: logprob, ...}."""
    try:
        entries = response["choices"][0]["logprobs"]["top_logprobs"][0]
        ranked = [TokenLogprob(str(token), float(logprob)) for token, logprob in entries.items()]
    except (KeyError, IndexError, TypeError, AttributeError) as error:
        raise ValueError(_no_logprobs_message(response)) from error
    return sorted(ranked, key=lambda t: -t.logprob)


def _no_logprobs_message(response) -> str:
    return (
        "The endpoint's answer has no top log-probabilities (the model or server may not support "
        f"logprobs). It answered: {json.dumps(response)[:300]}"
    )
