"""The tokenizer of the course's model, rebuilt from what the GGUF file stores.

A GGUF file has no `tokenizer.json`: it stores the vocabulary, the BPE merges, the type of every
token (normal or control) and the name of the pre-tokenizer (`tokenizer.ggml.pre`). This module
hands those to the `tokenizers` package (the Rust library behind Hugging Face's fast tokenizers),
so the token ids are exactly SmolLM2's:

    tokenizer = Tokenizer.from_gguf_metadata(metadata)     # usually via load_model()
    tokenizer.encode("The capital of France is")           # [504, 3575, 282, 4649, 314]
    tokenizer.chat_prompt("What is 2+2?")                  # the instruct chat template, as text

`visible(text)` makes whitespace visible for display: the lessons show tokens such as " Paris"
as "␣Paris", because the leading space is part of the token.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

import jinja2.sandbox
from tokenizers import AddedToken, Regex, decoders, models, pre_tokenizers
from tokenizers import Tokenizer as _RustTokenizer

from course_utils import checks

WHITESPACE_SYMBOLS = {" ": "␣", "\n": "↵", "\t": "⇥", "\r": "␍"}
_VISIBLE = str.maketrans(WHITESPACE_SYMBOLS)

# GGUF token types (llama.cpp's llama_token_type): 3 marks a control token such as <|im_end|>.
CONTROL_TOKEN_TYPE = 3

# How each pre-tokenizer named in `tokenizer.ggml.pre` cuts text into words before BPE, as
# llama.cpp does it (llama-vocab.cpp). For 'smollm' that is: every numeric character alone
# (\p{N}: digits, but also Ⅻ and ①), then GPT-2's split -- the same as the Digits + ByteLevel
# pre-tokenizer of SmolLM2's own tokenizer.json. So "2024" is always four tokens.
_LLAMA3_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
    r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _gpt2_pre_tokenizer(individual_digits: bool) -> pre_tokenizers.PreTokenizer:
    steps = [pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]
    if individual_digits:
        steps.insert(0, pre_tokenizers.Digits(individual_digits=True))
    return pre_tokenizers.Sequence(steps)


def _regex_pre_tokenizer(pattern: str) -> pre_tokenizers.PreTokenizer:
    return pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(pattern), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )


PRE_TOKENIZERS = {
    "smollm": lambda: _gpt2_pre_tokenizer(individual_digits=True),
    "starcoder": lambda: _gpt2_pre_tokenizer(individual_digits=True),
    "gpt2": lambda: _gpt2_pre_tokenizer(individual_digits=False),
    "llama-bpe": lambda: _regex_pre_tokenizer(_LLAMA3_SPLIT),
}


def visible(text: str) -> str:
    """`text` with spaces, newlines, tabs and carriage returns drawn as ␣ ↵ ⇥ ␍."""
    if not isinstance(text, str):
        raise TypeError(f"visible(text) needs a str, got {type(text).__name__}: {text!r}.")
    return text.translate(_VISIBLE)


@functools.cache
def byte_alphabet() -> dict[str, int]:
    """GPT-2's byte-level alphabet: the printable character that stands for each byte.

    Byte-level BPE works on bytes, but its vocabulary is written as text, so every byte gets a
    printable stand-in: printable bytes stand for themselves, the others (space, newline, ...)
    are shifted above 255 -- which is why a space shows up as 'Ġ' in the raw vocabulary.
    """
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    stand_in = {byte: chr(byte) for byte in printable}
    shifted = 0
    for byte in range(256):
        if byte not in stand_in:
            stand_in[byte] = chr(256 + shifted)
            shifted += 1
    return {char: byte for byte, char in stand_in.items()}


def _readable(raw: bytes) -> str:
    """Decode UTF-8, writing bytes that are only part of a character as <0xF0>."""
    parts = []
    while raw:
        try:
            parts.append(raw.decode("utf-8"))
            break
        except UnicodeDecodeError as error:
            parts.append(raw[: error.start].decode("utf-8"))
            parts.extend(f"<0x{byte:02X}>" for byte in raw[error.start : error.end])
            raw = raw[error.end :]
    return "".join(parts)


class Tokenizer:
    """Byte-level BPE tokenizer with special tokens and a chat template.

    Built from a GGUF file's metadata by `from_gguf_metadata`; `encode` turns text into token
    ids (special tokens written in the text, such as "<|im_end|>", become their single id),
    `decode` turns ids back into text.
    """

    def __init__(
        self,
        backend: _RustTokenizer,
        vocabulary: Sequence[str],
        special_ids: Sequence[int],
        eos_ids: Sequence[int],
        chat_template: str | None,
    ):
        self._backend = backend
        self._vocabulary = list(vocabulary)
        self.special_ids = frozenset(int(i) for i in special_ids)
        self.eos_ids = frozenset(int(i) for i in eos_ids)
        self.chat_template = chat_template
        self._template = None
        self._token_texts: dict[int, str] = {}
        if chat_template is not None:
            env = jinja2.sandbox.ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
            self._template = env.from_string(chat_template)

    @classmethod
    def from_gguf_metadata(cls, metadata: Mapping[str, object]) -> Tokenizer:
        """Build the tokenizer from GGUF metadata (`tokenizer.ggml.*` keys, as plain values)."""
        kind = metadata.get("tokenizer.ggml.model")
        if kind != "gpt2":
            raise ValueError(
                f"This GGUF file uses a {kind!r} tokenizer; the course supports byte-level BPE "
                "tokenizers ('gpt2' in the file), as used by SmolLM2, Llama 3 and GPT-2."
            )
        pre = metadata.get("tokenizer.ggml.pre", "gpt2")
        if pre not in PRE_TOKENIZERS:
            raise ValueError(
                f"This GGUF file's tokenizer pre-splits text as {pre!r}, which the course does not "
                f"know; supported: {sorted(PRE_TOKENIZERS)}."
            )
        tokens = list(metadata["tokenizer.ggml.tokens"])
        merges = [tuple(merge.split(" ", 1)) for merge in metadata["tokenizer.ggml.merges"]]
        types = list(metadata.get("tokenizer.ggml.token_type", [1] * len(tokens)))
        vocab = {token: index for index, token in enumerate(tokens)}

        backend = _RustTokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False, byte_fallback=False))
        backend.pre_tokenizer = PRE_TOKENIZERS[pre]()
        backend.decoder = decoders.ByteLevel()
        special = [index for index, kind in enumerate(types) if kind == CONTROL_TOKEN_TYPE]
        # normalized=False: a control token matches only its exact text, as in llama.cpp.
        backend.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i in special])

        eos_ids = {int(metadata["tokenizer.ggml.eos_token_id"])} if "tokenizer.ggml.eos_token_id" in metadata else set()
        # The instruct model ends a chat turn with <|im_end|> and a document with <|endoftext|>:
        # generation must stop at either.
        eos_ids |= {vocab[t] for t in ("<|im_end|>", "<|endoftext|>", "<|eot_id|>", "<|end_of_text|>") if t in vocab}
        return cls(backend, tokens, special, sorted(eos_ids), metadata.get("tokenizer.chat_template"))

    @property
    def vocab_size(self) -> int:
        return len(self._vocabulary)

    def to_json(self) -> str:
        """The tokenizer as a `tokenizers` JSON document (what Hugging Face ships as tokenizer.json),
        for tools that read that format, such as the grammar engine behind `course_utils.structured`."""
        return self._backend.to_str()

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; special tokens written in it ("<|im_start|>") become one id each."""
        if not isinstance(text, str):
            raise TypeError(f"encode(text) needs a str, got {type(text).__name__}: {text!r}.")
        return self._backend.encode(text, add_special_tokens=False).ids

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """The text of token ids (special tokens included unless `skip_special_tokens`)."""
        return self._backend.decode(self.check_ids(ids, allow_empty=True), skip_special_tokens=skip_special_tokens)

    def token_bytes(self, token_id: int) -> bytes:
        """The raw bytes a (non-special) token stands for; special tokens give their UTF-8 name."""
        token_id = self.check_ids([token_id])[0]
        token = self._vocabulary[token_id]
        if token_id in self.special_ids:
            return token.encode("utf-8")
        alphabet = byte_alphabet()
        return bytes(alphabet[char] for char in token)

    def token_text(self, token_id: int) -> str:
        """How to show one token: whitespace made visible, partial UTF-8 bytes as <0xF0>."""
        token_id = self.check_ids([token_id])[0]
        if token_id not in self._token_texts:
            self._token_texts[token_id] = visible(_readable(self.token_bytes(token_id)))
        return self._token_texts[token_id]

    def chat_prompt(self, user_message: str, *, system: str | None = None) -> str:
        """The chat template applied to one user message, ending where the assistant's reply starts.

        With `system=None` the template's own default system message is used (SmolLM2's names
        the assistant SmolLM).
        """
        if not isinstance(user_message, str):
            raise TypeError(f"chat_prompt(user_message) needs a str, got {type(user_message).__name__}.")
        if self._template is None:
            raise ValueError("This GGUF file has no chat template (tokenizer.chat_template), so chat=True cannot be used.")
        messages = [{"role": "user", "content": user_message}]
        if system is not None:
            messages.insert(0, {"role": "system", "content": system})
        return self._template.render(messages=messages, add_generation_prompt=True)

    def check_ids(self, ids: Sequence[int], *, allow_empty: bool = False) -> list[int]:
        """`ids` as a list of Python ints, or a learner-readable error if any is not a token id."""
        return checks.token_ids(ids, self.vocab_size, "ids", allow_empty=allow_empty)
