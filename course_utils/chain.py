"""The sampling configuration and the chain it builds: every dial checked once, then applied in order.

    config = SamplingConfig(temperature=0.7, top_p=0.9, repetition_penalty=1.2)
    chain = Chain(config)
    logits = chain.penalize(rows, histories)   # the stage before temperature, on a copy
    final = chain.final_logits(logits)         # temperature, top-k, top-p, min-p in `order`

`SamplingConfig` is frozen: its fields are the dials' values as the learner gave them, and
constructing it checks every one (through the processors it builds), so a loop that draws a
hundred tokens checks its settings once. `Chain` is one generation's list of processors: the
config's, plus any with state of their own (a grammar's mask), which `advance` moves on and
`state` / `restore` roll back.

The two orders (``ORDERS``):

* ``"transformers"``: temperature -> top-k -> top-p -> min-p (the order ``generate()`` applies),
  then typical -> epsilon -> eta (its warpers' order). transformers has no top-nσ or XTC: the
  course runs top-nσ just before top-k and XTC after the last cut, where llama.cpp's chain puts
  them among these dials (top-nσ's kept set does not depend on the temperature, so before or
  after it is the same set).
* ``"llama.cpp"``: top-nσ -> top-k -> typical -> top-p -> min-p -> XTC on the T = 1 distribution,
  then temperature on the survivors (llama.cpp's default sampler chain puts temperature last).
  llama.cpp has no epsilon or eta: the course runs them after min-p, as transformers does.

With ``mirostat=2`` either order is temperature -> mirostat, which draws the token itself: as in
llama.cpp, no other truncation dial runs (the course refuses them rather than ignoring them).

Before either, the stage every library runs first (`processors.history`), llama.cpp's DRY
right after the repetition penalties (where its chain puts it; transformers has no DRY).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np

from course_utils.processors import (
    DRY, NO_HISTORY, XTC, AllowedTokenIds, ConstraintMask, EpsilonCutoff, EtaCutoff, History, LlamaCppPenalties, LogitBias,
    MinNewTokens, MinP, Mirostat, NoRepeatNGram, OpenAIPenalties, Processor, RepetitionPenalty, Temperature, TopK,
    TopNSigma, TopP, TypicalP,
)
from course_utils.processors import samplers as _samplers
from course_utils.processors.base import check_count
from course_utils.processors.truncation import softmax

ORDERS = ("transformers", "llama.cpp")

# Which functions show a field: "chain" (every sampling function), "before" (those of the stage
# before temperature too), "generation" (generate and generate_batch only: it needs the model).
_CHAIN, _BEFORE, _BOTH, _GENERATION = {"stage": "chain"}, {"stage": "before"}, {"stage": "both"}, {"stage": "generation"}


@dataclass(frozen=True, eq=False)
class SamplingConfig:
    """Every dial of the chain, checked when constructed. The fields keep the values as given."""

    temperature: float = field(default=1.0, metadata=_CHAIN)
    top_k: int = field(default=0, metadata=_CHAIN)
    top_p: float = field(default=1.0, metadata=_CHAIN)
    min_p: float = field(default=0.0, metadata=_CHAIN)
    order: str = field(default="transformers", metadata=_BOTH)
    min_tokens_to_keep: int = field(default=1, metadata=_CHAIN)
    repetition_penalty: float = field(default=1.0, metadata=_BEFORE)
    frequency_penalty: float = field(default=0.0, metadata=_BEFORE)
    presence_penalty: float = field(default=0.0, metadata=_BEFORE)
    no_repeat_ngram_size: int = field(default=0, metadata=_BEFORE)
    repeat_last_n: int = field(default=64, metadata=_BEFORE)
    logit_bias: Mapping[int, float] | None = field(default=None, metadata=_BEFORE)
    allowed_token_ids: Sequence[int] | None = field(default=None, metadata=_BEFORE)
    min_new_tokens: int = field(default=0, metadata=_GENERATION)
    typical_p: float = field(default=1.0, metadata=_CHAIN)
    epsilon_cutoff: float = field(default=0.0, metadata=_CHAIN)
    eta_cutoff: float = field(default=0.0, metadata=_CHAIN)
    top_n_sigma: float = field(default=_samplers.TOP_N_SIGMA_OFF, metadata=_CHAIN)
    xtc_probability: float = field(default=0.0, metadata=_CHAIN)
    xtc_threshold: float = field(default=_samplers.XTC_THRESHOLD, metadata=_CHAIN)
    dry_multiplier: float = field(default=0.0, metadata=_BEFORE)
    dry_base: float = field(default=_samplers.DRY_BASE, metadata=_BEFORE)
    dry_allowed_length: int = field(default=_samplers.DRY_ALLOWED_LENGTH, metadata=_BEFORE)
    dry_penalty_last_n: int = field(default=_samplers.DRY_PENALTY_LAST_N, metadata=_BEFORE)
    dry_sequence_breakers: Sequence | None = field(default=None, metadata=_BEFORE)
    mirostat: int = field(default=0, metadata=_CHAIN)
    mirostat_tau: float = field(default=_samplers.MIROSTAT_TAU, metadata=_CHAIN)
    mirostat_eta: float = field(default=_samplers.MIROSTAT_ETA, metadata=_CHAIN)

    def __post_init__(self):
        if self.order not in ORDERS:
            raise ValueError(
                f"order must be one of {', '.join(repr(o) for o in ORDERS)}, got {self.order!r}. "
                "'transformers' applies temperature first; 'llama.cpp' applies it last."
            )
        truncation = self._truncation()
        before = [p for p in self._before() if p.active]
        object.__setattr__(self, "truncation", tuple(truncation))
        object.__setattr__(self, "before", tuple(before))

    def _truncation(self) -> list[Processor]:
        temperature, keep = Temperature(self.temperature), self.min_tokens_to_keep
        mirostat = Mirostat(self.mirostat, self.mirostat_tau, self.mirostat_eta)
        top_k, top_p, min_p = TopK(self.top_k, keep), TopP(self.top_p, keep), MinP(self.min_p, keep)
        # The samplers beyond top-p enter the list only when on, so with them off the chain (and
        # every number it gives) is what it was before they existed.
        sigma, typical = _on(TopNSigma(self.top_n_sigma)), _on(TypicalP(self.typical_p, keep))
        cutoffs = _on(EpsilonCutoff(self.epsilon_cutoff, keep), EtaCutoff(self.eta_cutoff, keep))
        xtc = _on(XTC(self.xtc_probability, self.xtc_threshold, keep))
        if mirostat.active:
            self._check_alone_with_mirostat()
            return [temperature, mirostat]
        if self.order == "transformers":
            return [temperature, *sigma, top_k, top_p, min_p, *typical, *cutoffs, *xtc]
        return [*sigma, top_k, *typical, top_p, min_p, *cutoffs, *xtc, temperature]

    def _check_alone_with_mirostat(self) -> None:
        """llama.cpp's mirostat replaces the chain (temperature, then mirostat draws), and in its
        order the penalties and DRY are skipped too (common/sampling.cpp): a dial set beside it
        would do nothing, so it is refused with that reason."""
        skipped = ["top_k", "top_p", "min_p", "typical_p", "epsilon_cutoff", "eta_cutoff", "top_n_sigma",
                   "xtc_probability"]
        if self.order == "llama.cpp":
            skipped += ["repetition_penalty", "frequency_penalty", "presence_penalty", "dry_multiplier"]
        on = [name for name in skipped if getattr(self, name) != _DEFAULTS[name]
              and not (name == "top_n_sigma" and self.top_n_sigma == 0)]
        if on:
            raise ValueError(
                f"{on[0]}={getattr(self, on[0])!r} does nothing with mirostat=2: as in llama.cpp, mirostat replaces "
                "the chain (temperature, then mirostat chooses the token) and the other samplers are skipped"
                f"{' (in llama.cpp order the penalties and DRY too)' if self.order == 'llama.cpp' else ''}. "
                f"Leave {on[0]} at its default, or set mirostat=0."
            )

    def _before(self) -> list[Processor]:
        masks = [AllowedTokenIds(self.allowed_token_ids), LogitBias(self.logit_bias)]
        window = "It is how many of the last tokens llama.cpp's penalties look at (64 by default; 0 turns them off)."
        if self.order == "transformers":
            if self.repeat_last_n != _DEFAULTS["repeat_last_n"]:
                raise ValueError(
                    f"repeat_last_n={self.repeat_last_n!r} is llama.cpp's window and only applies with order='llama.cpp'; "
                    "with order='transformers' the repetition penalty counts the whole text, as Hugging Face does."
                )
            penalties = [RepetitionPenalty(self.repetition_penalty),
                         OpenAIPenalties(self.frequency_penalty, self.presence_penalty)]
        else:
            penalties = [LlamaCppPenalties(self.repetition_penalty, self.frequency_penalty, self.presence_penalty,
                                           check_count(self.repeat_last_n, "repeat_last_n", window))]
        dry = DRY(self.dry_multiplier, self.dry_base, self.dry_allowed_length, self.dry_penalty_last_n,
                  self.dry_sequence_breakers)
        return [*masks, *penalties, dry, NoRepeatNGram(self.no_repeat_ngram_size), MinNewTokens(self.min_new_tokens)]

    def settings(self) -> dict:
        """The dials as keywords, as the learner gave them (defaults filled in)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def replace(self, **changes) -> SamplingConfig:
        return dataclasses.replace(self, **changes)


def _on(*processors: Processor) -> list[Processor]:
    return [p for p in processors if p.active]


_FIELDS = dataclasses.fields(SamplingConfig)
_DEFAULTS = {f.name: f.default for f in _FIELDS}
#: The keywords of every sampling function and their defaults.
SETTING_DEFAULTS = {f.name: f.default for f in _FIELDS if f.metadata["stage"] != "generation"}
#: Every dial generate() takes: the sampling functions' and those that need the model.
GENERATION_SETTINGS = tuple(_DEFAULTS)
#: The keywords of the stage before temperature (`sampling.penalize_logits`), with ``order`` choosing whose rules.
PENALTY_SETTINGS = (*(f.name for f in _FIELDS if f.metadata["stage"] == "before"), "order")


def takes_settings(function=None, *, names: Sequence[str] = tuple(SETTING_DEFAULTS)):
    """Decorator for a function that receives sampling settings as ``**settings``: its signature
    (what ``help()`` and JupyterLab's Shift-Tab show) lists each of ``names`` with its default
    from `SamplingConfig`, so the keywords are written once and every function shows all of them."""
    if function is None:
        return lambda f: takes_settings(f, names=names)
    signature = inspect.signature(function)
    own = [p for p in signature.parameters.values() if p.kind is not inspect.Parameter.VAR_KEYWORD]
    dials = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=_DEFAULTS[name]) for name in names]
    function.__signature__ = signature.replace(parameters=own + dials)
    return function


def config_from(settings: dict, names: Sequence[str] = tuple(SETTING_DEFAULTS)) -> SamplingConfig:
    """The checked configuration of a function's ``**settings``; an unknown keyword is refused."""
    unknown = sorted(set(settings) - set(names))
    if unknown:
        kind = "sampling setting" if len(names) >= len(SETTING_DEFAULTS) else "setting here"
        raise TypeError(f"{unknown[0]!r} is not a {kind}; the settings are {', '.join(names)}.")
    return SamplingConfig(**settings)


class Stage(NamedTuple):
    """The distribution after one step of the sampling chain."""

    name: str  # "input", "penalties", "temperature", "top_k", "top_p" or "min_p"
    label: str  # for plot titles, e.g. "top-p 0.9" or "top-k off"
    probs: np.ndarray


class Run(NamedTuple):
    """The chain applied once to one penalized row. When top-k is on, only its survivors go on
    through the chain (a stage after top-k looks at nothing else), so every array here but `row`
    is over `ids`."""

    ids: np.ndarray | None  # the tokens top-k keeps, in increasing order (None: every token)
    row: np.ndarray  # the penalized logits of every token
    penalized: np.ndarray  # the penalized logits of those tokens (float64)
    stages: dict[str, np.ndarray]  # the logits after each processor of temperature and truncation
    top_k_gap: float  # half the gap at top-k's cut, in raw logits (0 for a tie it keeps whole)
    xtc_applied: bool = True  # whether XTC's coin made it act at this step (when it is on)

    @property
    def final(self) -> np.ndarray:
        """The logits the token is drawn from (those of the last stage)."""
        return next(reversed(self.stages.values()))


class Chain:
    """One generation's processors: the config's, with `masks` (constraints with state of their
    own, such as a grammar's `structured.TokenConstraint`, each applied as a `ConstraintMask`) after
    the allowed ids, and the model's end-of-text ids for `min_new_tokens`. With `breakers` (a
    vocabulary's token texts and its encoder), DRY's sequence breakers given as text become ids.
    Processors with state (mirostat's mu) are fresh for each chain."""

    def __init__(self, config: SamplingConfig, *, masks: Sequence = (), eos_ids=frozenset(), breakers=None):
        self.config = config
        allowed = [p for p in config.before if isinstance(p, AllowedTokenIds)]
        others = [p.__class__(p.min_new_tokens, frozenset(eos_ids)) if isinstance(p, MinNewTokens)
                  else p.resolve(*breakers) if isinstance(p, DRY) and breakers is not None else p
                  for p in config.before if not isinstance(p, AllowedTokenIds)]
        self.masks = tuple(ConstraintMask(constraint) for constraint in masks)
        self._own = (*allowed, *others)  # the config's processors
        self.before: tuple[Processor, ...] = (*allowed, *self.masks, *others)
        self.truncation = tuple(p.fresh() for p in config.truncation)
        self.xtc = next((p for p in self.truncation if isinstance(p, XTC)), None)
        self.mirostat = next((p for p in self.truncation if isinstance(p, Mirostat)), None)
        self._last: Run | None = None  # the last step's run, which mirostat learns from
        self.slope = math.prod(p.slope for p in self.before)  # how much a raw logit's change can grow

    @property
    def filter_unit(self) -> float:
        """Raw logits per unit of the logits the filters see: T in the transformers order (they see
        logits / T), 1 in llama.cpp's (they see the logits as they are)."""
        return self.config.temperature if self.config.order == "transformers" else 1.0

    def penalize(self, logits: np.ndarray, histories: Sequence[History]) -> np.ndarray:
        """The rows (shape ``(rows, V)``) after the stage before temperature, as a new float64 array."""
        x = logits.astype(np.float64)  # a copy: the processors of this stage work in place
        for processor in self.before:
            x = processor(x, histories)
        if self.before and np.isneginf(x.max(axis=-1)).any():
            raise ValueError(
                "every entry of a row of logits is -inf after allowed_token_ids, logit_bias and the "
                f"penalties (no_repeat_ngram_size={self.config.no_repeat_ngram_size}), so every token is masked "
                "and no probability distribution exists. Allow more tokens or use a larger no_repeat_ngram_size."
            )
        return x

    def check_vocabulary(self, vocab_size: int) -> None:
        """The dials' token ids (logit_bias, allowed_token_ids) checked against a vocabulary, before a
        model runs: the config's processors on a stand-in row (the masks have their own vocabulary)."""
        stand_in = np.zeros((1, vocab_size))
        for processor in self._own:
            processor(stand_in, [NO_HISTORY])

    def run(self, row: np.ndarray, *, xtc_applies: bool | None = None) -> Run:
        """The processors of temperature and truncation applied once to one penalized row;
        `xtc_applies` is XTC's coin for this step (`draw.decide` draws it from the generation's rng),
        which a chain with XTC on must be given: a path that drew no coin would silently always act.

        Top-k chooses by order alone, and a temperature in the usual range keeps the order of the
        logits, so top-k can choose first, on the row as it is: then only its k survivors are
        converted, divided and filtered, not the whole vocabulary.
        """
        if self.xtc is not None and xtc_applies is None:
            raise ValueError(
                f"xtc_probability={self.xtc.xtc_probability!r} makes each step random (XTC's coin), and this way of "
                "choosing tokens draws no coin (speculative decoding does not support XTC). Set xtc_probability=0 "
                "here, or sample without it."
            )
        top_k = next((p for p in self.truncation if isinstance(p, TopK) and p.active), None)
        before_top_k = self.truncation[: self.truncation.index(top_k)] if top_k else ()
        ids, gap, x = None, float("inf"), row
        if top_k and all(p.keeps_order for p in before_top_k):
            ids, gap, x = self._top_k(top_k, row, row, unit=1.0)
        x = x.astype(np.float64)
        penalized, stages = x, {}
        for processor in self.truncation:
            if processor is top_k and ids is None and top_k is not None:
                # After a temperature that does not keep the order (T = 0), top-k chooses here.
                ids, gap, x = self._top_k(top_k, x, x, unit=self.filter_unit)
                if ids is not None:
                    penalized, stages = penalized[ids], {name: z[ids] for name, z in stages.items()}
            elif processor is self.xtc:
                x = processor(x, applies=xtc_applies)
            elif processor is not top_k:
                x = processor(x)
            stages[processor.name] = x
        self._last = Run(ids, row, penalized, stages, gap, xtc_applies is not False)
        return self._last

    @staticmethod
    def _top_k(top_k: TopK, ranked: np.ndarray, x: np.ndarray, unit: float) -> tuple:
        """The ids top-k keeps by `ranked`, half the gap at its cut (in raw logits: `unit` per
        unit of `ranked`), and `x` restricted to them."""
        ids, below = top_k.split(ranked)
        if ids is None:
            return None, float("inf"), x
        kept = ranked[ids]
        gap = 0.0 if len(ids) > top_k.k else float(kept.min() - below) / 2 * unit
        return ids, gap, x[ids]

    def final_logits(self, x: np.ndarray, *, xtc_applies: bool = True) -> np.ndarray:
        for processor in self.truncation:
            x = processor(x, applies=xtc_applies) if processor is self.xtc else processor(x)
        return x

    def stages(self, x: np.ndarray) -> list[Stage]:
        """The distribution after each processor of temperature and truncation (x is penalized);
        XTC's stage shows the step where its coin makes it act."""
        stages, after_temperature = [], False
        for processor in self.truncation:
            x = processor(x)
            after_temperature |= isinstance(processor, Temperature)
            suffix = "" if after_temperature else " (at T = 1)"
            stages.append(Stage(processor.name, processor.label + suffix, softmax(x)))
        return stages

    @property
    def penalty_label(self) -> str:
        """For plot titles, e.g. "repetition 1.2, no-repeat 3-gram"."""
        return ", ".join(p.label for p in self.before)

    def advance(self, token_id: int) -> None:
        """Tell every processor which token was chosen; mirostat learns the token's surprise in the
        distribution of the last `run` it was drawn from."""
        for processor in self.before:
            processor.advance(token_id)
        if self.mirostat is not None and self._last is not None:
            run = self._last
            where = token_id if run.ids is None else int(np.searchsorted(run.ids, token_id))
            self.mirostat.learn(float(-np.log2(softmax(run.final)[where])))

    @property
    def mirostat_mu(self) -> float | None:
        """Mirostat's mu now (None without mirostat): the surprise above which it cuts, in bits."""
        return None if self.mirostat is None else self.mirostat.mu

    def state(self) -> tuple:
        """Every processor's state, for `restore` (a generation that rolls back needs it)."""
        return tuple(p.state() for p in (*self.before, *self.truncation))

    def restore(self, state: tuple) -> None:
        for processor, saved in zip((*self.before, *self.truncation), state):
            processor.restore(saved)
