"""What the course asks of a model, written once (`typing.Protocol`s), and a check that says, in
words, which feature a model cannot serve, before anything runs.

* `LanguageModel`: what `generate`, the explorers and the exercises need: a vocabulary, the ids
  that end a text, text <-> ids, and the next token's logits after some ids. (``chat=True`` also
  needs ``chat_prompt(message)``, the instruct template.)
* `BatchModel`: what `generate_batch`, beam search and speculative decoding need besides: one
  forward pass over many rows and many new positions (``all_positions=True`` returns the logits
  at every one of them), with a KV cache (`Cache`) that can be reordered and cut back.
* `EarlyExitModel`: what an early-exit draft (``assistant_early_exit=k``) needs besides: how many
  blocks the model has, and ``forward(..., exit_after=k)``, the logits after its first k blocks.
* `GrammarModel`: what structured output (``json_schema=`` / ``grammar=``) needs besides: the
  course's tokenizer, whose byte-level vocabulary llguidance reads.

The numpy model (`model.LlamaModel`) is all three; `adapters.TransformersModel` is a
`LanguageModel` only, and says so (``TransformersModel.limitations``).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np


@runtime_checkable
class LanguageModel(Protocol):
    @property
    def vocab_size(self) -> int: ...

    @property
    def eos_ids(self) -> frozenset[int]: ...

    def encode(self, text: str) -> list[int]: ...

    def decode(self, ids) -> str: ...

    def token_text(self, token_id: int) -> str:
        """One token for display, whitespace made visible ('␣Paris')."""

    def next_token_logits(self, ids) -> np.ndarray:
        """Scores, shape (vocab_size,), for the token after `ids`."""


@runtime_checkable
class Cache(Protocol):
    length: int  # slots filled so far

    def reorder(self, rows) -> None:
        """Row i becomes a copy of old row rows[i] (beam search keeps the beams that continue)."""

    def truncate(self, length: int) -> None:
        """Forget every slot from `length` on (speculative decoding rolls back rejected tokens)."""


@runtime_checkable
class BatchModel(LanguageModel, Protocol):
    def new_cache(self, batch_size: int = 1) -> Cache: ...

    def forward(self, tokens: np.ndarray, cache: Cache, is_real: np.ndarray | None = None, *,
                all_positions: bool = False) -> np.ndarray:
        """Run (batch, n_new) tokens after what `cache` holds; the logits at each row's last position,
        shape (batch, vocab_size), or at every new position with `all_positions`, (batch, n_new, vocab_size)."""


@runtime_checkable
class EarlyExitModel(BatchModel, Protocol):
    @property
    def n_layers(self) -> int:
        """How many blocks `forward` runs; ``forward(..., exit_after=k)`` runs the first k, then the
        final norm and the unembedding."""


@runtime_checkable
class GrammarModel(LanguageModel, Protocol):
    tokenizer: object  # course_utils.tokenizer.Tokenizer: llguidance reads its byte-level vocabulary


def lacks(model, protocol: type) -> list[str]:
    """The members of `protocol` that `model` does not have, by name (empty: it serves the protocol).

    Looked up with ``hasattr``, so a wrapper that forwards to a model through ``__getattr__`` (a
    model that remembers its logits, one that plays another machine) serves what its model serves.
    (``isinstance`` with a runtime-checkable Protocol looks attributes up statically from Python 3.12
    on, and would refuse such a wrapper.)
    """
    return [name for name in members(protocol) if not hasattr(model, name)]


def require(model, protocol: type, feature: str) -> None:
    """Raise a TypeError naming what `model` lacks when `feature` needs `protocol` of it."""
    missing = lacks(model, protocol)
    if missing:
        said = getattr(model, "limitations", "")
        raise TypeError(
            f"{feature} needs a model with {', '.join(missing)}, which "
            f"{getattr(model, 'name', type(model).__name__)!s} does not have. {said}".strip()
        )


def members(protocol: type) -> list[str]:
    """What a model must have to be a `protocol`: its attributes and methods, by name."""
    names = []
    for klass in reversed(protocol.__mro__):
        if klass is object or klass is Protocol or not getattr(klass, "_is_protocol", False):
            continue
        names += [n for n in (*getattr(klass, "__annotations__", {}), *vars(klass))
                  if not n.startswith("_") and n not in names]
    return names
