"""Measures of neural text degeneration, after Holtzman et al. (2020), Table 1.

"The Curious Case of Neural Text Degeneration" (Holtzman, Buys, Du, Forbes, Choi; ICLR 2020,
https://arxiv.org/abs/1904.09751) compared decoding methods on GPT-2 Large and found that
greedy decoding falls into repeating loops while pure sampling wanders into text the model
itself finds improbable. Lesson 05 and ``scripts/replicate_holtzman.py`` reproduce the
*qualitative* finding with SmolLM2; this module holds the metrics, as pure functions over
token-id lists and log-probabilities (numpy only, the same layer as ``sampling``):

- :func:`loop_at_end` / :func:`repetition_rate` -- does a generation *end* in a repeating loop
  (the paper's "Repetition %")?
- :func:`distinct_n` -- the share of n-grams that are distinct (Li et al., 2016).
- :func:`self_bleu` -- Self-BLEU-4 (Zhu et al., 2018): how much each generation resembles the
  others; high means the method says the same thing whatever the prompt.
- :func:`perplexity` -- the model's own perplexity of what it generated, from the log-probs of
  the *unmodified* distribution (temperature 1, no truncation), as in the paper.

``PAPER_TABLE1`` holds the paper's reference numbers for the rows the course compares against.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np

from course_utils import checks
__all__ = [
    "PAPER_TABLE1",
    "PAPER_SOURCE",
    "Loop",
    "loop_at_end",
    "repetition_rate",
    "ngrams",
    "distinct_n",
    "sentence_bleu",
    "self_bleu",
    "perplexity",
]

PAPER_SOURCE = (
    "Holtzman, Buys, Du, Forbes, Choi. The Curious Case of Neural Text Degeneration. "
    "ICLR 2020, Table 1 (GPT-2 Large). https://arxiv.org/abs/1904.09751"
)

# The rows of the paper's Table 1 the course compares against. Repetition is the percentage of
# generations that end in a repeating loop; perplexity is GPT-2 Large's own perplexity of the
# text. "human" is the perplexity of the human-written continuations of the same prompts.
# The paper's temperature row is t = 0.9, not the replication's 0.7, so it is not listed.
PAPER_TABLE1: dict[str, dict[str, float]] = {
    "greedy": {"repetition_pct": 73.66, "perplexity": 1.50},
    "beam_search_16": {"repetition_pct": 28.94, "perplexity": 1.48},
    "pure_sampling": {"repetition_pct": 0.22, "perplexity": 22.73},
    "top_k_40": {"repetition_pct": 0.78, "perplexity": 6.88},
    "top_p_0.95": {"repetition_pct": 0.36, "perplexity": 13.13},
    "human": {"perplexity": 12.38},
}


@dataclass(frozen=True)
class Loop:
    """A repeating loop at the end of a sequence.

    ``period`` tokens repeat; the periodic tail is ``span`` tokens long (it may end part-way
    through a period, where generation was cut off), so it holds ``span / period`` repeats.
    """

    period: int
    span: int

    @property
    def repeats(self) -> float:
        return self.span / self.period


def _as_token_array(token_ids, name: str = "token_ids") -> np.ndarray:
    if isinstance(token_ids, (str, bytes)):
        raise TypeError(
            f"{name} must be a list of integer token ids, got a string {token_ids[:20]!r}. "
            "Encode the text first, e.g. model.encode(text)."
        )
    arr = np.asarray(token_ids)
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a flat list of token ids, got an array of shape {arr.shape}. "
            "Pass one sequence at a time."
        )
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(
            f"{name} must hold integer token ids, got values of type {arr.dtype}. "
            "Token ids are whole numbers such as 504 or 2."
        )
    return arr.astype(np.int64, copy=False)


def loop_at_end(token_ids: Sequence[int], *, min_span: int = 8) -> Loop | None:
    """The repeating loop a sequence ends in, or ``None`` if it does not end in one.

    A sequence ends in a loop when its last tokens are periodic: for some period ``p`` the tail
    satisfies ``t[i] == t[i - p]`` for at least two full periods and at least ``min_span``
    tokens. Two periods is enough for a long phrase ("It was a sunny day. It was a sunny day.")
    while ``min_span`` stops a short echo ("ha ha", "very very") from counting: with the default
    8, one token must repeat 8 times and a 2-token pair 4 times. The tail may stop part-way
    through a period, as a generation cut off at ``max_new_tokens`` does.

    Returns the loop with the smallest period (the loop's "unit"); its ``span`` is the length of
    the longest periodic tail for that period.
    """
    t = _as_token_array(token_ids)
    min_span = checks.whole_number(min_span, "min_span", minimum=2)
    n = t.size
    for period in range(1, n // 2 + 1):
        matches = t[period:] == t[:-period]
        # Length of the trailing run of matches: tail positions that equal the token `period`
        # earlier. The periodic tail is that run plus the first period it is compared against.
        mismatch = np.flatnonzero(~matches)
        run = matches.size if mismatch.size == 0 else matches.size - 1 - mismatch[-1]
        span = run + period
        if run >= period and span >= min_span:
            return Loop(period=period, span=int(span))
    return None


def repetition_rate(sequences: Iterable[Sequence[int]], *, min_span: int = 8) -> float:
    """Percentage (0-100) of sequences that end in a repeating loop (see :func:`loop_at_end`)."""
    flags = [loop_at_end(s, min_span=min_span) is not None for s in sequences]
    if not flags:
        raise ValueError("sequences is empty: pass at least one list of token ids.")
    return 100.0 * sum(flags) / len(flags)


def ngrams(token_ids: Sequence[int], n: int) -> list[tuple[int, ...]]:
    """The n-grams of a sequence, in order, as tuples (``len - n + 1`` of them, or none)."""
    n = checks.whole_number(n, "n", minimum=1)
    t = _as_token_array(token_ids).tolist()
    return [tuple(t[i : i + n]) for i in range(len(t) - n + 1)]


def distinct_n(sequences: Iterable[Sequence[int]], n: int = 2) -> float:
    """Distinct-n (Li et al., 2016): distinct n-grams / all n-grams, pooled over the sequences.

    1.0 means no n-gram ever repeats, within a generation or across generations; a greedy loop
    drives it towards 0. Pooling (rather than averaging per sequence) is Li et al.'s definition,
    and it also sees a method that writes the same phrase for every prompt.
    """
    n = checks.whole_number(n, "n", minimum=1)
    total = 0
    seen: set[tuple[int, ...]] = set()
    for seq in sequences:
        grams = ngrams(seq, n)
        total += len(grams)
        seen.update(grams)
    if total == 0:
        raise ValueError(
            f"distinct_n needs at least one {n}-gram, but every sequence is shorter than "
            f"n={n} tokens. Generate longer sequences or use a smaller n."
        )
    return len(seen) / total


def sentence_bleu(
    hypothesis: Sequence[int],
    references: Sequence[Sequence[int]],
    *,
    max_n: int = 4,
    epsilon: float = 0.1,
) -> float:
    """BLEU of one token sequence against references (uniform weights over 1..``max_n``-grams).

    Follows NLTK's ``sentence_bleu`` with ``SmoothingFunction().method1``, which Texygen's
    Self-BLEU (used by Holtzman et al.) calls: clipped n-gram precisions, an n-gram order with
    no match counts as ``epsilon`` matches, a brevity penalty against the reference closest in
    length, and 0 when not even one unigram matches.
    """
    max_n = checks.whole_number(max_n, "max_n", minimum=1)
    hyp = _as_token_array(hypothesis, "hypothesis").tolist()
    refs = [_as_token_array(r, "references").tolist() for r in references]
    if not refs:
        raise ValueError("references is empty: BLEU needs at least one reference sequence.")
    if not hyp:
        return 0.0
    log_precision_sum = 0.0
    for n in range(1, max_n + 1):
        counts = Counter(ngrams(hyp, n))
        max_ref_counts: Counter = Counter()
        for ref in refs:
            max_ref_counts |= Counter(ngrams(ref, n))  # `|` keeps the max count per n-gram
        clipped = sum(min(c, max_ref_counts[g]) for g, c in counts.items())
        denominator = max(1, sum(counts.values()))
        if clipped == 0:
            if n == 1:
                return 0.0
            precision = epsilon / denominator
        else:
            precision = clipped / denominator
        log_precision_sum += math.log(precision) / max_n
    hyp_len = len(hyp)
    closest_ref_len = min((len(r) for r in refs), key=lambda r: (abs(r - hyp_len), r))
    brevity = 1.0 if hyp_len > closest_ref_len else math.exp(1 - closest_ref_len / hyp_len)
    return brevity * math.exp(log_precision_sum)


def self_bleu(sequences: Sequence[Sequence[int]], *, max_n: int = 4) -> float:
    """Self-BLEU (Zhu et al., 2018): mean BLEU of each sequence against all the others.

    0 means the generations share nothing; 1 means they are identical. Holtzman et al. report
    Self-BLEU-4 (``max_n=4``), the default here.
    """
    seqs = [_as_token_array(s, "sequences").tolist() for s in sequences]
    if len(seqs) < 2:
        raise ValueError(
            f"self_bleu needs at least 2 sequences to compare with each other, got {len(seqs)}."
        )
    scores = [
        sentence_bleu(seqs[i], seqs[:i] + seqs[i + 1 :], max_n=max_n) for i in range(len(seqs))
    ]
    return float(np.mean(scores))


def perplexity(logprobs: Iterable[float]) -> float:
    r"""Perplexity from natural-log probabilities: :math:`\exp(-\frac{1}{N}\sum_i \log p_i)`.

    Pass the log-probability each generated token had under the model's *unmodified*
    distribution (temperature 1, no truncation) to get the paper's measure. Concatenate the
    log-probs of several generations to get one pooled (token-weighted) perplexity.
    """
    lp = np.asarray(list(logprobs) if not isinstance(logprobs, np.ndarray) else logprobs)
    if lp.size == 0:
        raise ValueError("logprobs is empty: perplexity needs at least one token's log-prob.")
    if not np.issubdtype(lp.dtype, np.number):
        raise TypeError(f"logprobs must be numbers (natural-log probabilities), got {lp.dtype}.")
    lp = lp.astype(np.float64).ravel()
    if np.any(np.isnan(lp)) or np.any(lp > 0):
        bad = lp[np.isnan(lp) | (lp > 0)][0]
        raise ValueError(
            f"logprobs must be natural-log probabilities (<= 0, not NaN), got {bad}. "
            "Did you pass probabilities instead of their logarithms?"
        )
    return float(np.exp(-lp.mean()))
