"""Speculative decoding (course_utils.speculative): exactly the model's distribution, faster.

* On a tiny model with a four-token vocabulary: every outcome's probability, enumerated through
  the whole generate() path, equals the model's (to 1e-12); a chi-square test on many seeded
  generations accepts the rule and rejects two planted wrong rules.
* On the course's model: greedy speculative text is greedy's, token for token, with both drafts.
* Against transformers (reference): its prompt lookup proposes what ours does, and its
  generate(prompt_lookup_num_tokens=...) greedy text is ours.
"""

import functools
import itertools
import math

import numpy as np
import pytest

from conftest import require_reference
from course_utils import speculative
from course_utils.generation import generate, generate_batch
from course_utils.reproducibility import NearTieError, required_margin
from course_utils.sampling import next_token_distribution

LETTERS = "abcd"
VOCAB = len(LETTERS)


class TinyCache:
    """The tokens a TinyModel has read (its logits depend on the last two)."""

    def __init__(self):
        self.tokens: list[int] = []

    @property
    def length(self) -> int:
        return len(self.tokens)

    def reorder(self, rows) -> None:
        assert list(rows) == [0]

    def truncate(self, length: int) -> None:
        del self.tokens[length:]


class TinyModel:
    """A model of four tokens whose logits come from a table of the last two tokens; exited early
    (any `exit_after`), it reads another table, so the early-exit draft's q differs from p."""

    n_layers = 2
    eos_ids = frozenset()

    def __init__(self, seed: int = 7):
        rng = np.random.default_rng(seed)
        self.table = rng.normal(0.0, 1.5, size=(VOCAB, VOCAB, VOCAB))
        self.draft_table = self.table + rng.normal(0.0, 1.5, size=self.table.shape)

    vocab_size = VOCAB

    def encode(self, text):
        return [LETTERS.index(c) for c in text]

    def decode(self, ids):
        return "".join(LETTERS[i] for i in ids)

    def token_text(self, token_id):
        return LETTERS[token_id]

    def logits_after(self, ids, table=None) -> np.ndarray:
        before, last = [0, *ids][-2:]  # a lone first token reads as if "a" came before it
        return (self.table if table is None else table)[before, last].astype(np.float32)

    def next_token_logits(self, ids):
        return self.logits_after(list(ids))

    def new_cache(self, batch_size=1):
        return TinyCache()

    def forward(self, tokens, cache, is_real=None, *, all_positions=False, exit_after=None):
        table = self.table if exit_after is None else self.draft_table
        rows = []
        for token in np.asarray(tokens)[0]:
            cache.tokens.append(int(token))
            rows.append(self.logits_after(cache.tokens, table))
        rows = np.array(rows)[None]
        return rows if all_positions else rows[:, -1]


PROMPT = "abcab"  # its last 2-gram "ab" occurs earlier: prompt lookup proposes "cab"
SETTINGS = dict(temperature=0.9, top_k=3, repetition_penalty=1.3)
NEW = 3


def exact_distribution(model, prompt_ids, n, settings) -> dict[tuple, float]:
    """The model's own probability of every n-token continuation, from the course's public
    next_token_distribution (not from the speculative code)."""
    out = {}
    for tokens in itertools.product(range(VOCAB), repeat=n):
        prob, ids = 1.0, list(prompt_ids)
        for token in tokens:
            p = next_token_distribution(model.logits_after(ids), prompt_ids=prompt_ids,
                                        generated_ids=ids[len(prompt_ids):], **settings)
            prob *= p[token]
            ids.append(token)
        if prob > 0:
            out[tokens] = prob
    return out


class Enumerator:
    """A stand-in for `speculative.Draws` that takes every branch of every random choice in turn:
    generate() is re-run once per path, each path weighted by the product of its choices'
    probabilities."""

    def __init__(self):
        self.pending = [[]]

    def start(self):
        self.script, self.at, self.weight = self.pending.pop(), 0, 1.0
        return self

    def _choose(self, options):
        options = [(value, prob) for value, prob in options if prob > 0]
        if self.at == len(self.script):
            self.pending += [self.script + [k] for k in range(1, len(options))]
            self.script = self.script + [0]
        value, prob = options[self.script[self.at]]
        self.at += 1
        self.weight *= prob
        return value

    def accept(self, probability):
        return self._choose([(True, probability), (False, 1.0 - probability)])

    def pick(self, probs):
        return self._choose([(int(i), float(probs[i])) for i in np.flatnonzero(probs)])


def enumerated(monkeypatch, model, settings, **draft) -> dict[tuple, float]:
    enumerator = Enumerator()
    monkeypatch.setattr(speculative, "Draws", lambda rng: enumerator)
    out = {}
    while enumerator.pending:
        enumerator.start()
        g = generate(model, PROMPT, max_new_tokens=NEW, **settings, **draft)
        key = tuple(g.token_ids)
        out[key] = out.get(key, 0.0) + enumerator.weight
    return out


# The chain's dials keep their meaning: top-k's cut, a penalty that reads the accepted tokens, and
# (another run) typical-p's cut with min-p's, in llama.cpp's order.
OTHER_SETTINGS = dict(temperature=0.7, typical_p=0.8, min_p=0.1, frequency_penalty=0.5, order="llama.cpp")


@pytest.mark.parametrize("settings", [SETTINGS, OTHER_SETTINGS], ids=["top-k", "typical-p"])
@pytest.mark.parametrize("draft", [dict(assistant_early_exit=1), dict(prompt_lookup_num_tokens=3)])
def test_every_outcome_has_exactly_the_models_probability(monkeypatch, draft, settings):
    model = TinyModel()
    expected = exact_distribution(model, model.encode(PROMPT), NEW, settings)
    got = enumerated(monkeypatch, model, settings, **draft)
    assert set(got) == set(expected)
    for tokens, prob in expected.items():
        assert got[tokens] == pytest.approx(prob, abs=1e-12), tokens


def test_the_enumeration_sees_a_wrong_rule(monkeypatch):
    # The exact check has teeth: a rule that keeps every drafted token changes the probabilities.
    monkeypatch.setattr(speculative, "RULE", AlwaysAccept())
    model = TinyModel()
    expected = exact_distribution(model, model.encode(PROMPT), NEW, SETTINGS)
    got = enumerated(monkeypatch, model, SETTINGS, assistant_early_exit=1)
    assert max(abs(got.get(t, 0.0) - p) for t, p in expected.items()) > 0.01


# ---- a statistical test with power, and two planted wrong rules that must fail it ---------------


class AlwaysAccept(speculative.Rule):
    """Wrong: keeps every drafted token, so the text follows the draft."""

    def acceptance(self, p_x, q_x):
        return 1.0


class ResampleFromP(speculative.Rule):
    """Wrong: after a rejection draws from p itself instead of the residual max(0, p - q)."""

    def residual(self, p, q):
        return p


def chi_square_p_value(statistic: float, dof: int) -> float:
    """P(X >= statistic) for a chi-square X with `dof` degrees of freedom: 1 - the regularized lower
    incomplete gamma function P(dof / 2, statistic / 2), summed as its power series."""
    a, x = dof / 2, statistic / 2
    term = total = 1.0 / a
    n = 1
    while term > 1e-17 * total:
        term *= x / (a + n)
        total += term
        n += 1
    return max(0.0, 1.0 - math.exp(a * math.log(x) - x - math.lgamma(a) + math.log(total)))


SAMPLES = 3000


def sampled_p_value(model) -> float:
    """The chi-square test of SAMPLES seeded speculative generations (the early-exit draft, a real
    q) against the model's exact distribution of the first NEW tokens (64 joint outcomes)."""
    expected = exact_distribution(model, model.encode(PROMPT), NEW, SETTINGS)
    counts = dict.fromkeys(expected, 0)
    for seed in range(SAMPLES):
        g = generate(model, PROMPT, max_new_tokens=NEW, seed=seed, assistant_early_exit=1, **SETTINGS)
        if tuple(g.token_ids) not in counts:  # an outcome the model never gives (top-k cut it)
            return 0.0
        counts[tuple(g.token_ids)] += 1
    statistic = sum((counts[t] - SAMPLES * p) ** 2 / (SAMPLES * p) for t, p in expected.items())
    return chi_square_p_value(statistic, len(expected) - 1)


def test_the_chi_square_p_value_is_right():
    # Known values: the 5% critical value of 1 dof is 3.841; of 10 dof, 18.307.
    assert chi_square_p_value(3.841, 1) == pytest.approx(0.05, abs=2e-4)
    assert chi_square_p_value(18.307, 10) == pytest.approx(0.05, abs=2e-4)


def test_sampled_text_follows_the_models_distribution():
    assert sampled_p_value(TinyModel()) > 1e-3


@pytest.mark.parametrize("wrong_rule", [AlwaysAccept(), ResampleFromP()], ids=lambda r: type(r).__name__)
def test_a_wrong_rule_fails_the_same_test(monkeypatch, wrong_rule):
    monkeypatch.setattr(speculative, "RULE", wrong_rule)
    assert sampled_p_value(TinyModel()) < 1e-6


# ---- the course's model: greedy is greedy ------------------------------------------------------

# The texts below: at every step of plain greedy, the best token leads the second by more than
# twice the margin lessons require (COURSE_MIN_MARGIN, 3e-4 logits), far above the ~3e-5 by which a
# multi-token pass's logits differ from step-by-step ones: so identity is a fair requirement here.
GREEDY_MARGIN = 1e-3
PARAGRAPH = ("The river town woke slowly. Fishermen pulled their boats onto the gravel, the baker "
             "opened his shutters, and the ferry bell rang twice across the grey water.")
GREEDY_PROMPTS = [
    ("chat", "Repeat this paragraph exactly:\n\n" + PARAGRAPH),
    ("chat", "Fix the typo and repeat the sentence: The quick brown fox jumpd over the lazy dog."),
    ("chat", "Rewrite this code with the variable renamed to total:\n\ndef add(a, b):\n    s = a + b\n    return s"),
    ("chat", "What is the capital of France?"),
    ("text", "Once upon a time, there was a little"),
    ("text", "def fibonacci(n):\n    if n < 2:\n        return n\n    return"),
]
# Every text with prompt lookup, and each with one other draft in turn (the early exit costs most).
OTHER_DRAFTS = [dict(assistant_early_exit=24), dict(prompt_lookup_num_tokens=3, max_matching_ngram_size=3)]
GREEDY_CASES = [(kind, prompt, draft) for i, (kind, prompt) in enumerate(GREEDY_PROMPTS)
                for draft in (dict(prompt_lookup_num_tokens=8), OTHER_DRAFTS[i % 2])]


@functools.lru_cache(maxsize=None)
def plain_greedy(model, text):
    plain = generate(model, text, max_new_tokens=20, temperature=0)
    assert min(step.margin for step in plain.steps) > GREEDY_MARGIN, "choose a text without a near-tie"
    return plain


@pytest.mark.parametrize("kind, prompt, draft", GREEDY_CASES, ids=[f"{p[:20]}-{d}" for _, p, d in GREEDY_CASES])
def test_greedy_speculative_text_is_greedy_text(model, kind, prompt, draft):
    text = model.chat_prompt(prompt) if kind == "chat" else prompt
    plain = plain_greedy(model, text)
    fast = generate(model, text, max_new_tokens=20, temperature=0, **draft)
    assert fast.token_ids == plain.token_ids
    assert [s.margin for s in fast.steps] == pytest.approx([s.margin for s in plain.steps], abs=1e-4)
    assert sum(v.new_tokens for v in fast.verifications) == len(fast.token_ids)


def test_prompt_lookup_pays_on_a_copying_task(model):
    g = generate(model, model.chat_prompt("Repeat this paragraph exactly:\n\n" + PARAGRAPH), max_new_tokens=40,
                 temperature=0, prompt_lookup_num_tokens=8)
    assert len(g.verifications) <= len(g.token_ids) / 2  # two or more tokens per forward pass
    for v in g.verifications:
        assert v.accepted <= len(v.drafted) and len(v.p) == len(v.q) and all(q == 1.0 for q in v.q)
        if v.rejected_at is not None:  # greedy rejects a drafted token greedy would not take
            assert v.token != v.drafted[v.rejected_at] and v.p[v.rejected_at] == 0.0


def test_greedy_with_a_grammar_and_penalties_stays_greedy(model):
    # The chain's state (the grammar's) moves along accepted tokens only.
    prompt = model.chat_prompt("Give a JSON object with a name and an age for Ada Lovelace.")
    settings = dict(max_new_tokens=12, temperature=0, repetition_penalty=1.1,
                    json_schema={"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                                 "required": ["name", "age"]})
    plain = generate(model, prompt, **settings)
    assert min(step.margin for step in plain.steps) > GREEDY_MARGIN
    for draft in (dict(prompt_lookup_num_tokens=4), dict(assistant_early_exit=26)):
        assert generate(model, prompt, **settings, **draft).token_ids == plain.token_ids


def test_stop_strings_end_a_speculative_text_where_they_end_a_plain_one(model):
    prompt = model.chat_prompt("Repeat this paragraph exactly:\n\n" + PARAGRAPH)
    plain = generate(model, prompt, max_new_tokens=40, temperature=0, stop="ferry")
    fast = generate(model, prompt, max_new_tokens=40, temperature=0, stop="ferry", prompt_lookup_num_tokens=8)
    assert (fast.token_ids, fast.text, fast.finish_reason) == (plain.token_ids, plain.text, "stop")


# ---- sampled speculation on every machine: each choice held to the required margin --------------

SAMPLED_PROMPT = "Repeat this list exactly: apples, pears, plums, apples, pears, plums."
SAMPLED_DRAFTS = [dict(prompt_lookup_num_tokens=4), dict(assistant_early_exit=24)]


def sampled(model, seed, draft, **settings):
    return generate(model, model.chat_prompt(SAMPLED_PROMPT), max_new_tokens=12, temperature=0.8, seed=seed,
                    **draft, **settings)


def one_check(zp, zq, drafted, seed, t, q_from_logits):
    """One check of one drafted token against p = softmax(zp / T) (q = softmax(zq / T), or one-hot
    on it): what it decides, and the margin `Margins` gives it."""
    from course_utils.chain import Chain
    from course_utils.chain import SamplingConfig

    p = speculative.softmax(zp / t)
    q = speculative.softmax(zq / t) if q_from_logits else speculative.one_hot(drafted, len(zp))
    chance = speculative.Draws(np.random.default_rng(seed))
    accepted, token = speculative.verify([drafted], [q], lambda i: p, chance)
    draft = speculative.EarlyExit(1, 1) if q_from_logits else speculative.PromptLookup(1)
    margins = speculative.Margins(Chain(SamplingConfig(temperature=t, top_k=0)), draft,
                                  speculative.Proposal((drafted,), (q,)))
    if accepted == 0 and q_from_logits:
        margins.residual = speculative._residual_margin(p, q, chance.choices[-1], token, t)
    return (accepted, token), margins.so_far(chance.choices)


@pytest.mark.parametrize("q_from_logits", [False, True], ids=["one-hot q", "q from logits"])
def test_a_checks_margin_is_how_far_the_logits_may_move_without_changing_it(q_from_logits):
    """Logits moved by less than the margin (random directions, and every logit pushed to the edge)
    never change what a check decides; moved by a few times the margin, they sometimes do: the
    margin is a bound, and not a loose one."""
    rng = np.random.default_rng(0)
    flipped_nearby = 0
    for case in range(120):
        zp, zq = rng.normal(0, 2, 12), rng.normal(0, 2, 12)
        t, drafted = float(rng.choice([0.5, 1.0, 1.5])), int(rng.integers(12))
        outcome, margin = one_check(zp, zq, drafted, case, t, q_from_logits)
        assert margin > 0
        for _ in range(10):
            within = [rng.uniform(-0.99, 0.99, 12) * margin, rng.choice([-0.99, 0.99], 12) * margin]
            for dp, dq in itertools.product(within, within):
                assert one_check(zp + dp, zq + dq, drafted, case, t, q_from_logits)[0] == outcome, case
        beyond = [(rng.choice([-k, k], 12) * margin, rng.choice([-k, k], 12) * margin)
                  for k in (2, 4, 8) for _ in range(20)]
        flipped_nearby += any(one_check(zp + dp, zq + dq, drafted, case, t, q_from_logits)[0] != outcome
                              for dp, dq in beyond)
    assert flipped_nearby >= 12, flipped_nearby


@pytest.mark.parametrize("draft", SAMPLED_DRAFTS, ids=["prompt lookup", "early exit"])
def test_sampled_speculation_under_the_lessons_margin_is_refused_or_held(model, draft):
    """With COURSE_MIN_MARGIN set (as lessons run), a sampled speculative text either has every
    margin above it or raises NearTieError saying which token was too close."""
    outcomes = []
    for seed in range(8):
        try:
            with required_margin(3e-4):
                g = sampled(model, seed, draft)
            assert min(step.margin for step in g.steps) >= 3e-4
            outcomes.append("held")
        except NearTieError as err:
            assert "speculative check" in str(err)
            outcomes.append("refused")
    assert "held" in outcomes


# ---- what a learner passes in ------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(prompt_lookup_num_tokens=0), ValueError, "prompt_lookup_num_tokens"),
    (dict(prompt_lookup_num_tokens=2.5), TypeError, "prompt_lookup_num_tokens"),
    (dict(max_matching_ngram_size=3), ValueError, "needs prompt_lookup_num_tokens"),
    (dict(prompt_lookup_num_tokens=4, max_matching_ngram_size=0), ValueError, "max_matching_ngram_size"),
    (dict(assistant_early_exit=30), ValueError, "assistant_early_exit"),
    (dict(assistant_early_exit=4, prompt_lookup_num_tokens=4), ValueError, "give one of them"),
    (dict(assistant_early_exit=4, max_matching_ngram_size=2), ValueError, "prompt lookup"),
    (dict(prompt_lookup_num_tokens=4, num_beams=2), ValueError, "num_beams=1"),
    # dials with no single distribution per position to check a draft against
    (dict(prompt_lookup_num_tokens=4, mirostat=2), ValueError, "mirostat=2 cannot be combined"),
    (dict(assistant_early_exit=4, xtc_probability=0.5), ValueError, "xtc_probability=0.5 cannot be combined"),
])
def test_bad_speculative_settings_are_refused(model, kwargs, error, words):
    with pytest.raises(error, match=words):
        generate(model, "Hi", **kwargs)


def test_generate_batch_refuses_speculation(model):
    with pytest.raises(ValueError, match="prompt_lookup_num_tokens.*generate\\(\\)"):
        generate_batch(model, ["Hi", "Hello"], prompt_lookup_num_tokens=4)


def test_the_course_model_serves_an_early_exit_draft(model):
    from course_utils import interface

    assert interface.lacks(model, interface.EarlyExitModel) == [] and model.n_layers == 30
    assert interface.lacks(TinyModel(), interface.EarlyExitModel) == []


def test_a_model_without_a_forward_pass_is_refused():
    class LogitsOnly:  # what the transformers adapter serves: next_token_logits, no cache
        vocab_size, eos_ids = VOCAB, frozenset()
        encode, decode, token_text, next_token_logits = (TinyModel.encode, TinyModel.decode, TinyModel.token_text,
                                                        TinyModel.next_token_logits)

    with pytest.raises(TypeError, match="new_cache, forward"):
        generate(LogitsOnly(), [0, 1], prompt_lookup_num_tokens=4)


# ---- the rule's arithmetic and Leviathan et al.'s formulas -------------------------------------


def test_the_residual_is_where_p_exceeds_q():
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.6, 0.2])
    np.testing.assert_allclose(speculative.RULE.residual(p, q), [1.0, 0.0, 0.0])
    assert speculative.RULE.acceptance(0.3, 0.6) == 0.5 and speculative.RULE.acceptance(0.5, 0.2) == 1.0


def test_forward_times_measure_each_count():
    times = speculative.forward_times(TinyModel(), [0, 1, 2], (1, 2, 4), repeats=2)
    assert list(times) == [1, 2, 4] and all(t > 0 for t in times.values())


def test_expected_tokens_and_speedup():
    assert speculative.expected_tokens(0.0, 5) == 1.0 and speculative.expected_tokens(1.0, 5) == 6.0
    assert speculative.expected_tokens(0.5, 2) == pytest.approx(1.75)
    assert speculative.expected_speedup(0.5, 2, 0.0) == pytest.approx(1.75)
    assert speculative.expected_speedup(0.5, 2, 0.5) == pytest.approx(1.75 / 2)


# ---- against transformers (reference extra) ----------------------------------------------------


@pytest.mark.reference
def test_prompt_lookup_proposes_what_transformers_proposes(model):
    require_reference()
    import torch
    from transformers.generation.candidate_generator import PromptLookupCandidateGenerator

    class Row:  # what a draft reads of a generation: its ids and a chain with nothing before temperature
        def __init__(self, ids):
            self.ids, self.chain = ids, type("NoChain", (), {"before": ()})()

    rng = np.random.default_rng(5)
    for trial in range(300):
        ids = rng.integers(5, 9, size=int(rng.integers(2, 30))).tolist()  # few ids: many matches
        gamma, ngram = int(rng.integers(1, 9)), int(rng.integers(1, 4))
        theirs = PromptLookupCandidateGenerator(num_output_tokens=gamma, max_matching_ngram_size=ngram,
                                                max_length=1000)
        candidates, _ = theirs.get_candidates(torch.tensor([ids]))
        ours = speculative.PromptLookup(gamma, ngram).propose(model, None, Row(ids), budget=100, chance=None)
        assert list(ours.tokens) == candidates[0, len(ids):].tolist(), (ids, gamma, ngram)


@pytest.mark.reference
def test_greedy_prompt_lookup_matches_transformers(model):
    require_reference()
    import torch
    from course_utils.adapters import TransformersModel

    hf = TransformersModel.bundled(threads=2)
    for message in ("Repeat this paragraph exactly:\n\n" + PARAGRAPH,
                    "Rewrite this code with the variable renamed to total:\n\ndef add(a, b):\n    s = a + b\n    return s"):
        ids = model.encode(model.chat_prompt(message))
        with torch.no_grad():
            out = hf.hf_model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                       max_new_tokens=24, do_sample=False, prompt_lookup_num_tokens=8,
                                       eos_token_id=sorted(model.eos_ids), pad_token_id=min(model.eos_ids))
        theirs = out[0, len(ids):].tolist()
        ours = generate(model, ids, max_new_tokens=24, temperature=0, prompt_lookup_num_tokens=8)
        assert ours.token_ids == theirs


# ---- lesson 09's views of the rule --------------------------------------------------------------


def test_one_checks_outcome_is_p_whatever_the_draft():
    rng = np.random.default_rng(1)
    for _ in range(200):
        p, q = rng.dirichlet(np.ones(6) * 0.5), rng.dirichlet(np.ones(6) * 0.5)
        assert speculative.one_check_outcome(p, q) == pytest.approx(p, abs=1e-12)
    p, q = np.array([0.5, 0.3, 0.2]), np.array([0.2, 0.5, 0.3])
    assert speculative.one_check_outcome(p, speculative.one_hot(1, 3)) == pytest.approx(p, abs=1e-12)
    # The planted wrong rules give something else: the check has teeth.
    assert speculative.one_check_outcome(p, q, AlwaysAccept()) == pytest.approx(q)
    assert not np.allclose(speculative.one_check_outcome(p, q, ResampleFromP()), p, atol=0.01)


def first_token_p_value(model, n=4000) -> float:
    """The chi-square test of `sample_first_tokens` against the model's first-token distribution."""
    p = next_token_distribution(model.logits_after(model.encode(PROMPT)), temperature=0.9)
    counts = np.bincount(speculative.sample_first_tokens(model, PROMPT, n, seed=0, assistant_early_exit=1,
                                                         temperature=0.9), minlength=VOCAB)
    statistic = float(np.sum((counts - n * p) ** 2 / (n * p)))
    return chi_square_p_value(statistic, VOCAB - 1)


def test_sampled_first_tokens_follow_the_models_distribution(monkeypatch):
    assert first_token_p_value(TinyModel()) > 1e-3
    monkeypatch.setattr(speculative, "RULE", AlwaysAccept())
    assert first_token_p_value(TinyModel()) < 1e-6


def test_sampled_first_tokens_are_held_to_the_margin(model):
    with required_margin(3e-4):
        tokens = speculative.sample_first_tokens(model, "Once upon a time, there was a", 50, seed=11,
                                                 assistant_early_exit=12)
    assert tokens.shape == (50,) and len(set(tokens.tolist())) > 5
    with required_margin(10.0), pytest.raises(NearTieError, match="speculative first tokens"):
        speculative.sample_first_tokens(model, "Once upon a time, there was a", 5, seed=11, assistant_early_exit=12)
    with pytest.raises(ValueError, match="assistant_early_exit"):
        speculative.sample_first_tokens(model, "Once upon a time", 5, seed=0, assistant_early_exit=30)
