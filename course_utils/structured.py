"""Structured output: which tokens a grammar allows next, over the course's own tokenizer.

APIs and servers make invalid output impossible by masking the logits: at every step, every
token that cannot continue a valid text gets -inf, and the sampler draws from what is left
(OpenAI's Structured Outputs, llama.cpp's grammars, vLLM's structured outputs). This module
builds that mask with llguidance, the grammar engine llama.cpp can be built with and one of
vLLM's backends; `generation.generate(..., json_schema=..., grammar=...)` applies it.

    from course_utils.structured import TokenConstraint

    constraint = TokenConstraint(model.tokenizer, grammar={"syntax": "regex", "definition": "[0-9]+"})
    constraint.allowed()             # bool array over the vocabulary: the tokens that may come next
    constraint.advance(token_id)     # the chosen token moves the grammar on (a disallowed one raises)
    constraint.is_complete           # the text so far is a whole match: it may end here
    constraint.is_finished           # nothing but the end of the text can follow

What a constraint can be (one of):

* ``json_schema=``: a JSON Schema, as a dict or as JSON text (what OpenAI's
  ``response_format={"type": "json_schema", ...}`` and vLLM's ``json`` take). llguidance compiles
  it; it covers most of JSON Schema (Draft 2020-12) and refuses, with a message, what it cannot
  enforce. Whitespace inside the JSON is free, as in vLLM's default; none before or after.
* ``grammar=``: a Lark grammar as text (llguidance's Lark dialect, e.g.
  ``'start: "yes" | "no"'``; terminals may be regular expressions: ``start: /[0-9]+/``), or
  OpenAI's grammar object ``{"syntax": "lark" | "regex", "definition": "..."}`` for either a Lark
  grammar or a plain regular expression (Rust regex syntax, matched against the whole text).

Bad input is a ValueError naming the parameter: a schema or grammar llguidance rejects (with its
message), and a grammar that allows no token at some step (an empty language, such as the regex
``[^\\s\\S]``) -- the sampler would have nothing to draw from.

The LLTokenizer (llguidance's view of the vocabulary: the bytes of every token) takes about
0.3 s to build, so it is built once per tokenizer and cached; a constraint then compiles in
about a millisecond, and a mask costs well under a millisecond a step
(benchmarks/bench_structured.py).
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Mapping

import llguidance
import llguidance.numpy
import numpy as np

from course_utils import checks, sampling

# OpenAI's names for the grammar syntaxes of its grammar object ({"syntax": ..., "definition": ...}).
GRAMMAR_SYNTAXES = ("lark", "regex")

#: Issue 15's check, used by the tests and benchmarks/bench_structured.py: the question, and the
#: person schema closed (no other keys) and bounded, so that a reply can finish within a few dozen
#: tokens: a JSON Schema that servers accept as it is.
EXAMPLE_QUESTION = "Give me a JSON object describing a person called Alice who is 31"
EXAMPLE_SCHEMA = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "maxLength": 20},
        "age": {"type": "integer", "minimum": 0, "maximum": 150},
    },
    "required": ["name", "age"],
    "additionalProperties": False,
}

_LLG_TOKENIZERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def grammar_tokenizer(tokenizer) -> llguidance.LLTokenizer:
    """llguidance's tokenizer for the course's `tokenizer`, built on first use and cached.

    It reads the same `tokenizers` JSON as Hugging Face's fast tokenizers, so token ids agree;
    every end-of-sequence id of the course (<|im_end|>, <|endoftext|>) ends a grammar's text.
    """
    if tokenizer not in _LLG_TOKENIZERS:
        _LLG_TOKENIZERS[tokenizer] = llguidance.LLTokenizer(
            tokenizer.to_json(), n_vocab=tokenizer.vocab_size, eos_token=sorted(tokenizer.eos_ids)
        )
    return _LLG_TOKENIZERS[tokenizer]


class TokenConstraint:
    """A grammar's state during one generation: the allowed next tokens, step by step.

    `tokenizer` is the course's tokenizer (`model.tokenizer`); pass exactly one of `json_schema`
    and `grammar` (see the module docstring). The chain applies it as a mask with the masks,
    before everything else (`processors.ConstraintMask`); `advance` moves it on by the chosen
    token, and `state` / `restore` roll it back (llguidance's matcher rolls back token by token).
    """

    def __init__(self, tokenizer, *, json_schema=None, grammar=None):
        self.parameter, grammar_text = compile_grammar(json_schema=json_schema, grammar=grammar)
        self._tokenizer = tokenizer
        llg_tokenizer = grammar_tokenizer(tokenizer)
        is_error, messages = llguidance.LLMatcher.validate_grammar_with_warnings(grammar_text, llg_tokenizer)
        if is_error:
            raise ValueError(_rejected(self.parameter, messages[0]))
        # log_level=0: llguidance would print warnings to stderr; errors are raised here instead.
        self._matcher = llguidance.LLMatcher(llg_tokenizer, grammar_text, log_level=0)
        self.vocab_size = tokenizer.vocab_size
        self.eos_ids = frozenset(tokenizer.eos_ids)
        self.token_ids: list[int] = []  # the tokens the grammar has accepted so far
        self._bitmask = llguidance.numpy.allocate_token_bitmask(1, llg_tokenizer.vocab_size)
        self._allowed: np.ndarray | None = None  # the mask of the current state, once computed

    def allowed(self) -> np.ndarray:
        """A bool array over the vocabulary: True for every token the grammar allows next.

        End-of-sequence tokens are allowed exactly when the text so far is complete. Raises
        ValueError if the grammar allows no token at all here. The array is a fresh copy.
        """
        if self._allowed is None:
            llguidance.numpy.fill_next_token_bitmask(self._matcher, self._bitmask)
            bits = np.unpackbits(self._bitmask[0].view(np.uint8), bitorder="little")
            allowed = bits[: self.vocab_size].astype(bool)
            # In an error state llguidance allows only the end of the text; that is not a valid end.
            if not self._matcher.is_accepting():
                allowed[list(self.eos_ids)] = False
            if self._matcher.is_error() or not allowed.any():
                raise ValueError(self._dead_end())
            self._allowed = allowed
        return self._allowed.copy()

    def allowed_ids(self) -> np.ndarray:
        """The ids of the tokens the grammar allows next, in increasing order."""
        return np.flatnonzero(self.allowed())

    def mask_logits(self, logits) -> np.ndarray:
        """`logits` (shape (vocab_size,)) with every token the grammar forbids set to -inf.

        This is the whole trick of structured output: applied to the raw logits, before
        temperature and truncation, so the sampler renormalises over the allowed tokens only.
        """
        logits = np.asarray(logits)
        if logits.shape != (self.vocab_size,):
            raise ValueError(
                f"logits must have one score per token, shape ({self.vocab_size},); got shape {logits.shape}."
            )
        return np.where(self.allowed(), logits, -np.inf)

    def state(self) -> int:
        return len(self.token_ids)

    def restore(self, state: int) -> None:
        """Go back to when the grammar had accepted `state` tokens."""
        if state < len(self.token_ids):
            self._matcher.rollback(len(self.token_ids) - state)
            del self.token_ids[state:]
            self._allowed = None

    def advance(self, token_id: int) -> None:
        """Move the grammar on by the chosen token; a token it does not allow raises ValueError."""
        token_id = checks.whole_number(token_id, "token_id", hint="It is a token id (an int).")
        if not 0 <= token_id < self.vocab_size or not self.allowed()[token_id]:
            raise ValueError(
                f"token {token_id} is not allowed by the {self.parameter} after {self._text_so_far()!r}; "
                "choose one of allowed_ids()."
            )
        if not self._matcher.consume_token(token_id):
            raise ValueError(_rejected(self.parameter, _first_line(self._matcher.get_error())))
        self.token_ids.append(token_id)
        self._allowed = None

    @property
    def is_complete(self) -> bool:
        """True if the text so far is a whole match of the grammar (it parses; it may end here)."""
        return self._matcher.is_accepting()

    @property
    def is_finished(self) -> bool:
        """True if nothing but an end-of-sequence token can follow (or one already came)."""
        return self._matcher.is_stopped()

    def _text_so_far(self) -> str:
        return self._tokenizer.decode(self.token_ids)

    def _dead_end(self) -> str:
        reason = _first_line(self._matcher.get_error()) or "no token can continue the text"
        return (
            f"{self.parameter} allows no token after {self._text_so_far()!r} ({reason}): the sampler would "
            "have nothing to draw from. Does the grammar match any text at all? Fix it so that it does."
        )


def sample_then_check(logits, allowed, **settings) -> np.ndarray:
    """The distribution of the token llama.cpp's default sampler draws under a grammar mask `allowed`.

    ``common_sampler_sample`` (llama.cpp common/sampling.cpp, ``grammar_first = false``) draws from
    the whole chain on the *unmasked* logits, keeps the token if the grammar allows it, and only
    otherwise masks the raw logits and draws again through the chain. So a token's probability is
    its chance in the unmasked chain, plus the chance of a rejection times its chance in the masked
    chain. Without truncation that equals masking first; with top-k, top-p or min-p it does not,
    because the unmasked chain truncated with the forbidden tokens still in it. ``settings`` are
    `sampling.next_token_distribution`'s.
    """
    x = np.asarray(logits, dtype=np.float64)
    allowed = np.asarray(allowed, dtype=bool)
    if allowed.shape != x.shape:
        raise ValueError(f"allowed must have one bool per logit, shape {x.shape}; got shape {allowed.shape}.")
    first = sampling.next_token_distribution(x, **settings)
    masked = sampling.next_token_distribution(np.where(allowed, x, -np.inf), **settings)
    rejected = float(first[~allowed].sum())
    return np.where(allowed, first, 0.0) + rejected * masked


def compile_grammar(*, json_schema=None, grammar=None) -> tuple[str, str]:
    """("json_schema" or "grammar", llguidance's grammar text) for exactly one of the two.

    Only the form is checked here; `TokenConstraint` asks llguidance whether it accepts it.
    """
    if (json_schema is None) == (grammar is None):
        raise ValueError(
            "pass exactly one of json_schema (a JSON Schema) and grammar (a Lark grammar, or "
            '{"syntax": "regex", "definition": ...}); '
            + ("both were given." if json_schema is not None else "neither was given.")
        )
    if json_schema is not None:
        return "json_schema", llguidance.LLMatcher.grammar_from_json_schema(_schema_object(json_schema))
    syntax, definition = _grammar_parts(grammar)
    if syntax == "regex":
        return "grammar", llguidance.LLMatcher.grammar_from_regex(definition)
    return "grammar", llguidance.LLMatcher.grammar_from_lark(definition)


def _schema_object(json_schema) -> dict | bool:
    """The schema as a Python object: JSON text is parsed here, so a typo gets a clear message."""
    if isinstance(json_schema, str):
        try:
            json_schema = json.loads(json_schema)
        except json.JSONDecodeError as error:
            raise ValueError(f"json_schema is not valid JSON text ({error}); pass a dict or JSON text.") from None
    if not isinstance(json_schema, (Mapping, bool)):
        raise TypeError(
            f"json_schema must be a JSON Schema: a dict such as {{'type': 'object'}} or its JSON text; "
            f"got {type(json_schema).__name__}: {json_schema!r}."
        )
    return dict(json_schema) if isinstance(json_schema, Mapping) else json_schema


def _grammar_parts(grammar) -> tuple[str, str]:
    """(syntax, definition) of a grammar given as Lark text or as OpenAI's grammar object."""
    if isinstance(grammar, str):
        return "lark", grammar
    if isinstance(grammar, Mapping):
        extra = set(grammar) - {"syntax", "definition", "type"}
        syntax, definition = grammar.get("syntax"), grammar.get("definition")
        # "type": "grammar" may come along, as in OpenAI's custom-tool format.
        well_formed = grammar.get("type", "grammar") == "grammar" and isinstance(definition, str)
        if not extra and well_formed and syntax in GRAMMAR_SYNTAXES:
            return syntax, definition
    raise ValueError(
        "grammar must be a Lark grammar as text (e.g. 'start: \"yes\" | \"no\"') or OpenAI's grammar object "
        f"{{'syntax': 'lark' or 'regex', 'definition': text}}; got {grammar!r}."
    )


def _first_line(message: str) -> str:
    """llguidance's messages carry a parser-state dump after the first line: keep the sentence."""
    return message.strip().split("\n", 1)[0].strip()


def _rejected(parameter: str, problem: str) -> str:
    hint = ""
    if parameter == "grammar":
        hint = (
            "\nA plain string is read as a Lark grammar; for a regular expression pass "
            "grammar={'syntax': 'regex', 'definition': ...}."
        )
    return f"llguidance rejects this {parameter}: {problem.rstrip()}{hint}"
