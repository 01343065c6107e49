"""Speculative decoding: a cheap draft guesses a few tokens, one forward pass of the model checks
them all, and a simple rule keeps the text drawn from exactly the model's distribution.

    from course_utils.generation import generate
    g = generate(model, prompt, max_new_tokens=64, temperature=0, prompt_lookup_num_tokens=8)
    g.verifications[0]    # Verification(start=0, drafted=(...), accepted=5, token=..., p=(...), q=(...))

The rule (Leviathan et al. 2023, Algorithm 1; Chen et al. 2023), written once in `verify`: the
draft proposes x_1..x_g, each drawn from its distribution q_i; the model gives p_i at every position
in one pass. Accept x_i with probability min(1, p_i(x_i) / q_i(x_i)); at the first rejection draw
from norm(max(0, p_i - q_i)) and stop; if all are accepted, draw one more token from p_(g+1).
Whatever q is, every token comes out with probability exactly p: a draft only changes the speed.

* p is the *final* distribution of the generation's chain (penalties, grammar, temperature,
  truncation), run once per position with the history extended by the tokens accepted before it.
  At temperature 0 it is all on the token greedy picks, so greedy keeps exactly greedy's tokens.
* Two drafts. `PromptLookup` (Hugging Face's ``prompt_lookup_num_tokens`` and
  ``max_matching_ngram_size``) continues the text after an earlier occurrence of its last n-gram;
  it has no distribution, so q is one-hot: the same rule, not a second one. `EarlyExit`
  (``assistant_early_exit=k``) is the course's model stopped after its first k blocks, through the
  same chain: a real q. SmolLM2 was not trained to exit early; benchmarks/bench_speculative.py
  measures what acceptance it gets.
* The KV cache is cut back (``Cache.truncate``) past the rejected tokens. The early-exit draft uses
  the main cache's first k layers: a block's keys and values depend only on the blocks below it,
  so for the accepted tokens they are exactly what the k-block model computes.

With the same seed, a speculative text is generally not the plain text (the random numbers are
spent differently): the same distribution, another coupling. Like every draw of the course, each
choice of a check has a margin (`Margins`: how far the logits could move before it went another
way), held to ``COURSE_MIN_MARGIN`` so that a printed speculative text is every machine's. At temperature 0 nothing is drawn at
random, and the text is greedy's, up to the last-digit differences of a multi-token pass.

`speculate` runs one generation; it reads the generation's row (``ids``, ``prompt_ids``,
``new_ids``, ``chain``, ``rng``, ``max_new_tokens``, ``finished``, ``take(step)``) and hands each
decided token to `record`, the generation's own step record.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from course_utils import checks, interface
from course_utils.chain import Chain, Run, config_from
from course_utils.draw import Decision, Draw, _half_gap, kept_range, race
from course_utils.processors import History
from course_utils.processors.truncation import softmax
from course_utils.reproducibility import check_margin, required

#: generate()'s speculative settings (Hugging Face's names).
SETTINGS = ("prompt_lookup_num_tokens", "max_matching_ngram_size", "assistant_early_exit")
#: Hugging Face's max_matching_ngram_size when none is given ("Default to 2 if not provided").
DEFAULT_MAX_MATCHING_NGRAM_SIZE = 2


# ---- the rule ----------------------------------------------------------------------------------


class Rule:
    """Leviathan et al.'s accept / reject rule. Tests plant wrong rules as subclasses."""

    def acceptance(self, p_x: float, q_x: float) -> float:
        """The probability of keeping a drafted token x: min(1, p(x) / q(x))."""
        return min(1.0, p_x / q_x)

    def residual(self, p: np.ndarray, q: np.ndarray) -> np.ndarray:
        """What to draw from after a rejection: norm(max(0, p - q)), the mass p has where q lacks it.

        A rejection has a positive chance only where p(x) < q(x), and then this mass is at least
        q(x) - p(x) > 0.
        """
        r = np.maximum(p - q, 0.0)
        return r / r.sum()


RULE = Rule()


class Draws:
    """The random choices of the rule, from the generation's own generator. Each choice is
    remembered with how close it came to going the other way (`choices`), in log-probability
    units, so a check can hold every choice to the margin machines need (`Margins`)."""

    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.choices: list[Choice] = []

    def accept(self, probability: float) -> bool:
        u = self.rng.random()
        with np.errstate(divide="ignore"):
            self.choices.append(Choice("accept", abs(float(np.log(u) - np.log(probability)))))
        return bool(u < probability)

    def pick(self, probs: np.ndarray) -> int:
        """A token drawn from `probs` by an exponential race (the course's draw): the largest
        p_i / e_i wins, with probability exactly p_i. Every token of the vocabulary has its own
        e_i, so a token whose p_i is near 0 entering or leaving changes nothing unless it could
        win; a sure token draws nothing."""
        entrants = np.flatnonzero(probs)
        if len(entrants) == 1:
            self.choices.append(Choice("pick", float("inf")))
            return int(entrants[0])
        log_e = np.log(self.rng.standard_exponential(len(probs)))
        scores = np.log(probs[entrants]) - log_e[entrants]
        self.choices.append(Choice("pick", _half_gap(scores), log_e))
        return int(entrants[np.argmax(scores)])


class Choice(NamedTuple):
    """One random choice of a check: an accept test (`gap`: |log u - log acceptance|) or a race
    (`gap`: half the gap between its two best scores log p_i - log e_i; every token's log e_i,
    for the residual's own measure)."""

    kind: str
    gap: float
    log_e: np.ndarray | None = None


def verify(drafted: Sequence[int], qs: Sequence[np.ndarray], p_at: Callable[[int], np.ndarray | None],
           chance, rule: Rule | None = None) -> tuple[int, int | None]:
    """The rule on one draft: how many drafted tokens are accepted, and the token drawn after them.

    qs[i]: the distribution drafted[i] was drawn from (one-hot for a draft without one).
    p_at(i): the model's final distribution at position i, asked for in order and only once
    drafted[:i] are accepted (the chain reads them); None if the text already ended there, which
    ends the check with no token drawn.
    chance: `Draws`, or anything with ``accept(probability)`` and ``pick(probs)``.
    """
    rule = rule or RULE
    for i, (x, q) in enumerate(zip(drafted, qs)):
        p = p_at(i)
        if p is None:
            return i, None
        if not chance.accept(rule.acceptance(p[x], q[x])):
            return i, chance.pick(rule.residual(p, q))
    p = p_at(len(drafted))
    return len(drafted), (None if p is None else chance.pick(p))


# ---- the chain's final distribution, over the whole vocabulary ---------------------------------


def final_distribution(chain: Chain, logits: np.ndarray, history: History) -> tuple[Run, np.ndarray]:
    """The chain run once on one row of logits (as `draw.decide` runs it), and its final
    distribution over every token (float64). At temperature 0, all the mass is on the token greedy
    takes (the largest penalized logit, as the race picks it)."""
    run = chain.run(chain.penalize(logits[None], [history])[0] if chain.before else logits)
    p = np.zeros(len(logits))
    if chain.config.temperature == 0.0:
        p[int(np.argmax(run.row.astype(np.float64)))] = 1.0
    else:
        p[slice(None) if run.ids is None else run.ids] = softmax(run.final)
    return run, p


def _decision(chain: Chain, run: Run, token: int, rng: np.random.Generator, margin: float) -> Decision:
    """The record of a decided token, its margin checked as every draw's is. `margin` is the
    check's so far (`Margins`, raw logits; NaN when nothing asks for it). At temperature 0 the
    race draws nothing and greedy's own margin counts too."""
    if chain.config.temperature == 0.0:
        draw = race(chain, run, rng, measure=True)
        margin = draw.margin if np.isnan(margin) else min(margin, draw.margin)
    check_margin(margin, f"Token {token} was decided by a speculative check")
    return Decision(chain, run, Draw(token, margin))


def _history(row, extra: Sequence[int] = ()) -> History:
    return History(np.asarray(row.prompt_ids, dtype=np.int64), np.asarray([*row.new_ids, *extra], dtype=np.int64))


# ---- the drafts --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """A draft's guess: its tokens, the distribution each was drawn from (over the vocabulary), and
    how far (penalized logits) the cuts behind those distributions were from another outcome
    (`_cut_margin`; inf for a draft without one)."""

    tokens: tuple[int, ...]
    qs: tuple[np.ndarray, ...]
    cut_margin: float = float("inf")


NO_PROPOSAL = Proposal((), ())


def one_hot(token: int, vocab_size: int) -> np.ndarray:
    q = np.zeros(vocab_size)
    q[token] = 1.0
    return q


@dataclass(frozen=True)
class PromptLookup:
    """Hugging Face's prompt lookup (``PromptLookupCandidateGenerator``): find the text's last n-gram
    earlier in the text (prompt and generated so far), n from `max_matching_ngram_size` down to 1,
    and propose the up to `num_tokens` tokens that followed its first occurrence with any. As there,
    the proposal stops before a token the stage before temperature forbids (a grammar, allowed ids,
    no-repeat n-grams, min_new_tokens), and if nothing is left the next occurrence is tried; then
    it stops before an end-of-text token (which may leave nothing to propose)."""

    num_tokens: int
    max_matching_ngram_size: int = DEFAULT_MAX_MATCHING_NGRAM_SIZE
    q_from_logits = False  # q is one-hot on tokens of the text: no machine can move it

    def propose(self, model, cache, row, budget: int, chance) -> Proposal:
        ids = np.asarray(row.ids, dtype=np.int64)
        for n in range(min(self.max_matching_ngram_size, len(ids) - 1), 0, -1):
            windows = np.lib.stride_tricks.sliding_window_view(ids, n)
            # The match that ends the text is an occurrence too; it has nothing after it.
            for start in np.flatnonzero((windows == ids[-n:]).all(axis=1)) + n:
                tokens = _allowed(row, ids[start : start + min(self.num_tokens, budget)].tolist(), model)
                if tokens:
                    tokens = tokens[: next((i for i, t in enumerate(tokens) if t in model.eos_ids), len(tokens))]
                    return Proposal(tuple(tokens), tuple(one_hot(t, model.vocab_size) for t in tokens))
        return NO_PROPOSAL


def _allowed(row, tokens: list[int], model) -> list[int]:
    """`tokens` up to the first that the chain's stage before temperature masks (-inf); the chain's
    state (a grammar's) is moved along them and then restored."""
    chain = row.chain
    if not chain.before or not tokens:
        return tokens
    saved, kept = chain.state(), []
    try:
        for token in tokens:
            row_after = chain.penalize(np.zeros((1, model.vocab_size)), [_history(row, kept)])[0]
            if np.isneginf(row_after[token]):
                break
            kept.append(token)
            chain.advance(token)
    finally:
        chain.restore(saved)
    return kept


@dataclass(frozen=True)
class EarlyExit:
    """The model itself, exited after its first `layers` blocks (Hugging Face's
    ``assistant_early_exit``), drawing `num_tokens` tokens one by one from its own final
    distribution through the generation's chain. It ends early at an end-of-text token."""

    layers: int
    num_tokens: int
    q_from_logits = True  # q is the chain's distribution over the draft's own logits

    def propose(self, model, cache, row, budget: int, chance) -> Proposal:
        chain, start, saved = row.chain, cache.length, row.chain.state()
        tokens, qs, token, cut = [], [], row.ids[-1], float("inf")
        try:
            for _ in range(min(self.num_tokens, budget)):
                logits = model.forward(np.array([[token]]), cache, exit_after=self.layers)[0]
                run, q = final_distribution(chain, logits, _history(row, tokens))
                if required() > 0:
                    cut = min(cut, _cut_margin(chain, run))
                token = chance.pick(q)
                if token in model.eos_ids:
                    break
                tokens.append(token)
                qs.append(q)
                chain.advance(token)
        finally:
            # The verification rewrites these slots with the whole model's keys and values.
            cache.truncate(start)
            chain.restore(saved)
        return Proposal(tuple(tokens), tuple(qs), cut)


#: How many tokens the early-exit draft proposes per check when nothing says (HF's
#: num_assistant_tokens default for a draft model is 20; the course's numpy pass pays per token,
#: so fewer).
EARLY_EXIT_TOKENS = 4


def draft_from(model, *, prompt_lookup_num_tokens=None, max_matching_ngram_size=None, assistant_early_exit=None,
               num_beams: int = 1):
    """The draft generate()'s settings ask for (None: no speculation), every setting checked."""
    if prompt_lookup_num_tokens is None and assistant_early_exit is None:
        if max_matching_ngram_size is not None:
            raise ValueError(
                f"max_matching_ngram_size={max_matching_ngram_size!r} sets how long a match prompt lookup looks for; "
                "it needs prompt_lookup_num_tokens (such as prompt_lookup_num_tokens=8)."
            )
        return None
    given = "prompt_lookup_num_tokens" if prompt_lookup_num_tokens is not None else "assistant_early_exit"
    if num_beams != 1:
        raise ValueError(
            f"{given} asks for speculative decoding, which checks a draft against one sampled or greedy text; "
            f"beam search (num_beams={num_beams!r}) keeps several. Use num_beams=1 with {given}."
        )
    interface.require(model, interface.BatchModel, f"speculative decoding ({given}=)")
    if prompt_lookup_num_tokens is not None and assistant_early_exit is not None:
        raise ValueError(
            "prompt_lookup_num_tokens and assistant_early_exit are two different drafts; give one of them."
        )
    if assistant_early_exit is not None:
        return _early_exit(model, assistant_early_exit, max_matching_ngram_size)
    return PromptLookup(
        checks.whole_number(prompt_lookup_num_tokens, "prompt_lookup_num_tokens", minimum=1,
                            hint="It is how many tokens prompt lookup proposes per check, such as 8."),
        DEFAULT_MAX_MATCHING_NGRAM_SIZE if max_matching_ngram_size is None else checks.whole_number(
            max_matching_ngram_size, "max_matching_ngram_size", minimum=1,
            hint="It is the longest n-gram prompt lookup matches (Hugging Face's default: 2)."),
    )


def _early_exit(model, layers, max_matching_ngram_size) -> EarlyExit:
    interface.require(model, interface.EarlyExitModel, "assistant_early_exit=")
    if max_matching_ngram_size is not None:
        raise ValueError("max_matching_ngram_size belongs to prompt lookup; the early-exit draft does not match n-grams.")
    layers = checks.whole_number(
        layers, "assistant_early_exit", minimum=1, maximum=model.n_layers - 1,
        hint=f"It is how many of the model's {model.n_layers} blocks the draft runs before its LM head.")
    return EarlyExit(layers, EARLY_EXIT_TOKENS)


def refuse_in_batch(settings: dict) -> None:
    """generate_batch() does not speculate: each row would accept a different number of tokens per
    check, and the batch's KV cache keeps one length for every row (it cuts back a single sequence
    only). Hugging Face refuses likewise ("assisted generate is only supported for batch_size = 1")."""
    given = [name for name in SETTINGS if settings.get(name) is not None]
    if given:
        raise ValueError(
            f"generate_batch() does not take {given[0]}: speculative decoding accepts a different number of "
            "tokens in each row, so the rows of a batch would fall out of step. Call generate() for each "
            f"prompt with {given[0]}."
        )


# ---- one generation ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verification:
    """One check of a draft by one forward pass of the model."""

    start: int  # where the first token it decided sits in Generation.token_ids
    drafted: tuple[int, ...]
    accepted: int  # how many drafted tokens were kept (the first `accepted`)
    token: int | None  # drawn after them: from the residual at a rejection, from p if all were kept
    p: tuple[float, ...]  # the model's final probability of each drafted token it looked at
    q: tuple[float, ...]  # the draft's probability of each of those

    @property
    def rejected_at(self) -> int | None:
        """The index in `drafted` of the token the model rejected; None if it kept them all (or the
        text ended first)."""
        return self.accepted if self.accepted < len(self.p) and self.token is not None else None

    @property
    def new_tokens(self) -> int:
        return self.accepted + (self.token is not None)


def speculate(model, row, draft, record: Callable[[np.ndarray, Decision], object]) -> list[Verification]:
    """Generate `row` to its end by drafting and verifying; its steps are taken one decided token
    at a time (`record(logits, decision)` makes each step and moves the chain on)."""
    _refuse_dials_without_one_p(row.chain.config)
    cache = model.new_cache(1)
    if len(row.prompt_ids) > 1:  # the last prompt token goes in with the first draft
        model.forward(np.array([row.prompt_ids[:-1]]), cache)
    chance = Draws(row.rng)
    verifications = []
    while not row.finished:
        verifications.append(_check(model, cache, row, draft, record, chance))
    return verifications


# Speculation checks each drafted token against the one distribution p of its position. These dials
# have none to check against: XTC's coin makes p one of two per step, and mirostat's mu moves with
# every token drawn, including the draws of a rejected draft.
_WITHOUT_ONE_P = {
    "xtc_probability": "XTC flips a coin at every step, so a position has two possible distributions",
    "mirostat": "mirostat moves its target with every token it draws, so p depends on the draws of the check itself",
}


def _refuse_dials_without_one_p(config) -> None:
    for name, why in _WITHOUT_ONE_P.items():
        value = getattr(config, name)
        if value:
            raise ValueError(
                f"{name}={value!r} cannot be combined with speculative decoding (prompt_lookup_num_tokens or "
                f"assistant_early_exit), which checks a draft against the model's distribution at each position: "
                f"{why}. Generate without a draft, or turn {name} off."
            )


def _check(model, cache, row, draft, record, chance) -> Verification:
    """Draft, run the model once over the last token and the draft, apply the rule position by
    position (each accepted token taken before the next position's p is computed), and cut the
    cache back to what was kept."""
    budget = row.max_new_tokens - len(row.new_ids) - 1  # the check always adds a token of its own
    chance.choices = []
    proposal = draft.propose(model, cache, row, budget, chance) if budget > 0 else NO_PROPOSAL
    margins = Margins(row.chain, draft, proposal) if required() > 0 else None
    start, first = cache.length, len(row.new_ids)
    logits = model.forward(np.array([[row.ids[-1], *proposal.tokens]]), cache, all_positions=True)[0]
    runs, ps = [], []

    def decided(i: int, token: int) -> Decision:
        margin = float("nan") if margins is None else margins.so_far(chance.choices)
        return _decision(row.chain, runs[i], token, row.rng, margin)

    def p_at(i: int) -> np.ndarray | None:
        if i > 0:
            row.take(record(logits[i - 1], decided(i - 1, proposal.tokens[i - 1])))
            if row.finished:  # a stop string inside the draft
                return None
        run, p = final_distribution(row.chain, logits[i], _history(row))
        runs.append(run)
        ps.append(p)
        if margins is not None:
            margins.cut = min(margins.cut, _cut_margin(row.chain, run))
        return p

    accepted, token = verify(proposal.tokens, proposal.qs, p_at, chance)
    if token is not None:
        if margins is not None and margins.t != 0.0 and accepted < len(proposal.tokens) and draft.q_from_logits:
            margins.residual = _residual_margin(ps[accepted], proposal.qs[accepted], chance.choices[-1], token,
                                                row.chain.config.temperature)
        row.take(record(logits[accepted], decided(accepted, token)))
    cache.truncate(start + 1 + accepted)
    checked = range(min(len(proposal.tokens), len(ps)))
    return Verification(first, proposal.tokens, accepted, token,
                        tuple(float(ps[i][proposal.tokens[i]]) for i in checked),
                        tuple(float(proposal.qs[i][proposal.tokens[i]]) for i in checked))


# ---- how far a check was from going another way -------------------------------------------------


class Margins:
    """The margin (raw logits) of a check's decisions: how much every logit could move, as another
    machine's do in their last digits, before any choice of the check could go another way.

    A token decided by a check rests on every choice before it: the draft's picks (they set q and
    what is drafted), the accept tests so far, the draw after a rejection or after them all, and
    the cuts that shaped each p and q. A logit change of d moves log p_i by at most 2d / T (as
    it moves the log-softmax), and so:
    * an accept test u < p(x) / q(x) holds while |log u - log(p(x) / q(x))| > 2d / T, or 4d / T
      when q moves too (a draft with logits);
    * a race's winner stays while half the gap between its two best scores exceeds d / T, for p,
      for q, and for the residual after a one-hot q (p without the drafted token);
    * the race on the residual max(0, p - q) of a draft with logits: `_residual_margin`.
    Everything is measured on the penalized logits, then divided by the penalties' slope.
    """

    def __init__(self, chain: Chain, draft, proposal: Proposal):
        self.t, self.slope = chain.config.temperature, chain.slope
        self.accept_divisor = 4.0 if draft.q_from_logits else 2.0
        self.cut = proposal.cut_margin
        self.residual: float | None = None  # the last race's, after a rejection of a draft with logits

    def so_far(self, choices: Sequence[Choice]) -> float:
        """The margin of the choices made so far (the last one the residual's race, if measured).
        At temperature 0 every p and q is one-hot, so no choice is random: only the cuts count."""
        counted = [] if self.t == 0.0 else choices if self.residual is None else choices[:-1]
        margin = min([self.cut, *([] if self.residual is None else [self.residual])]
                     + [self.t * c.gap / (self.accept_divisor if c.kind == "accept" else 1.0) for c in counted])
        return margin / self.slope


def _cut_margin(chain: Chain, run: Run) -> float:
    """How far (penalized logits) the cuts behind one run's distribution are from giving it other
    tokens: half top-k's gap, or 0 if another machine's top-p, min-p or samplers could keep a
    different number (`draw.kept_range` under the required margin). At temperature 0 the
    distribution is all on the largest logit: half its gap to the next."""
    if chain.config.temperature == 0.0:
        return _half_gap(run.row.astype(np.float64))
    fewest, most = kept_range(chain, run.row, softmax(run.final), run)
    return run.top_k_gap if fewest == most else 0.0


def _residual_margin(p: np.ndarray, q: np.ndarray, choice: Choice, winner: int, t: float) -> float:
    """How far (penalized logits) the logits behind p and q could move before the race on the
    residual max(0, p - q) could have another winner.

    A logit change of d scales each p_i and q_i by a factor between e^(-e) and e^e, e = 2d / T, so
    r_i = p_i - q_i lies between p_i e^(-e) - q_i e^e and p_i e^e - q_i e^(-e). The winner stays
    while its lowest r stays above 0 and its lowest score log r - log e beats the highest of every
    token that could then enter (each keeps its own e; with no race drawn, none may enter). Found by
    bisection on e.
    """
    support = np.flatnonzero(p > 0)  # r_i = 0 wherever p_i = 0 (which tokens p keeps: the cut margins)
    # A residual with one entrant drew nothing: any token entering would start a race.
    log_e = np.full(len(p), -np.inf) if choice.log_e is None else choice.log_e
    rivals = support[support != winner]

    def winner_score(e: float) -> float:
        lowest = p[winner] * np.exp(-e) - q[winner] * np.exp(e)
        return float(np.log(lowest) - log_e[winner]) if lowest > 0 else -np.inf

    def rival_scores(e: float, among: np.ndarray) -> np.ndarray:
        highest = p[among] * np.exp(e) - q[among] * np.exp(-e)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(highest > 0, np.log(np.maximum(highest, 0.0)) - log_e[among], -np.inf)

    def holds(e: float) -> bool:
        return winner_score(e) > np.max(rival_scores(e, rivals), initial=-np.inf)

    low_e, high_e = 0.0, 1.0
    while holds(high_e) and high_e < 64.0:
        low_e, high_e = high_e, 2 * high_e
    for _ in range(40):
        # Only rivals that beat the winner somewhere below high_e matter (scores move monotonically
        # with e): keep those, so the search is over a handful of tokens, not the vocabulary.
        if np.isfinite(winner_score(high_e)):
            rivals = rivals[rival_scores(high_e, rivals) >= winner_score(high_e)]
        middle = (low_e + high_e) / 2
        low_e, high_e = (middle, high_e) if holds(middle) else (low_e, middle)
    return low_e * t / 2


# ---- the rule, seen one token at a time (lesson 09) --------------------------------------------


def one_check_outcome(p: np.ndarray, q: np.ndarray, rule: Rule | None = None) -> np.ndarray:
    """The exact distribution of the token one check decides when the draft proposes one token
    x ~ q: sum over x of q(x) [accept(x) on x, else the residual]. The rule's promise is that this
    is p, whatever q is."""
    rule = rule or RULE
    p, q = np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)
    outcome = np.zeros_like(p)
    for x in np.flatnonzero(q):
        keep = rule.acceptance(p[x], q[x])
        outcome[x] += q[x] * keep
        if keep < 1.0:
            outcome += q[x] * (1.0 - keep) * rule.residual(p, q)
    return outcome


def sample_first_tokens(model, prompt: str, n: int, *, seed: int, assistant_early_exit: int,
                        **settings) -> np.ndarray:
    """The first token of `n` speculative texts of `prompt`, drafted by the model's first
    `assistant_early_exit` blocks: each a draft token x ~ q checked against p by the rule (`verify`,
    `Draws`, `Margins`, as generate() does them), the random choices from one generator seeded with
    `seed`. With ``COURSE_MIN_MARGIN`` set, every choice is held to it. What a histogram compares
    with `n` plain draws (`sampling.sample_next_token`): p and q are computed once, as the first
    step of every such text computes them."""
    n = checks.whole_number(n, "n", minimum=1, hint="It is how many first tokens to draw, such as 1000.")
    draft = _early_exit(model, assistant_early_exit, None)
    chain = Chain(config_from(settings))
    prompt_ids = np.asarray(model.encode(prompt), dtype=np.int64)
    history = History(prompt_ids, np.zeros(0, dtype=np.int64))
    p_run, p = final_distribution(chain, model.next_token_logits(prompt_ids.tolist()), history)
    q_logits = model.forward(prompt_ids[None], model.new_cache(1), exit_after=draft.layers)[0]
    q_run, q = final_distribution(chain, q_logits, history)
    chance = Draws(np.random.default_rng(seed))
    cuts = min(_cut_margin(chain, q_run), _cut_margin(chain, p_run)) if required() > 0 else None
    tokens = np.empty(n, dtype=np.int64)
    for i in range(n):
        chance.choices = []
        x = chance.pick(q)
        accepted, token = verify([x], [q], lambda position: p if position == 0 else None, chance)
        tokens[i] = x if accepted else token
        if cuts is not None:
            margins = Margins(chain, draft, Proposal((x,), (q,), cuts))
            if not accepted:
                margins.residual = _residual_margin(p, q, chance.choices[-1], token, chain.config.temperature)
            check_margin(margins.so_far(chance.choices), f"Draw {i} (token {tokens[i]}) of the speculative first tokens")
    return tokens


# ---- what it costs and what it should gain ------------------------------------------------------


def forward_times(model, prompt_ids: Sequence[int], counts: Sequence[int] = (1, 2, 4, 8, 16), *,
                  repeats: int = 5, clock: Callable[[], float] = time.perf_counter) -> dict[int, float]:
    """Seconds one forward pass takes for each count of new tokens after `prompt_ids` (the best of
    `repeats`): what checking a draft of count - 1 tokens costs. The numbers are this machine's.
    ``clock=time.process_time`` counts this process's CPU time instead of the wall clock (steadier
    on a machine other jobs share)."""
    interface.require(model, interface.BatchModel, "forward_times()")
    cache = model.new_cache(1)
    model.forward(np.array([list(prompt_ids)]), cache)
    length, token = cache.length, int(prompt_ids[-1])
    times = {}
    for count in counts:
        best = float("inf")
        for _ in range(repeats):
            started = clock()
            model.forward(np.full((1, count), token), cache, all_positions=True)
            best = min(best, clock() - started)
            cache.truncate(length)
        times[count] = best
    return times


def acceptance_rate(verifications: Sequence[Verification]) -> float:
    """α measured: drafted tokens kept over drafted tokens looked at (each check looks at those it
    kept and the one it rejected); NaN when nothing was drafted."""
    kept = sum(v.accepted for v in verifications)
    looked = sum(len(v.p) for v in verifications)
    return kept / looked if looked else float("nan")


def expected_tokens(alpha: float, gamma: int) -> float:
    """Leviathan et al.'s expected tokens per check, (1 - α^(γ+1)) / (1 - α), for a draft of γ tokens
    each kept with probability α independently."""
    return gamma + 1.0 if alpha == 1.0 else (1 - alpha ** (gamma + 1)) / (1 - alpha)


def expected_speedup(alpha: float, gamma: int, cost_ratio: float) -> float:
    """Leviathan et al.'s walltime improvement, (1 - α^(γ+1)) / ((1 - α)(γ c + 1)), with c the cost of
    one draft token over one pass of the model; it assumes checking γ + 1 tokens costs one pass."""
    return expected_tokens(alpha, gamma) / (gamma * cost_ratio + 1)
