"""Differential tests: typical, epsilon and eta against the installed transformers' own warpers
(``TypicalLogitsWarper``, ``EpsilonLogitsWarper``, ``EtaLogitsWarper``), 3,000 random cases each,
``min_tokens_to_keep`` included, alone and in the chain of ``generate()``.

The cases come in batches that share a setting (a warper takes one value), so each batch is one
call on each side: the 9,000 cases take a few seconds. Needs the `reference` extra.
"""

import numpy as np
import pytest

from conftest import require_reference
from course_utils import sampling
from course_utils.processors import EpsilonCutoff, EtaCutoff, TypicalP

pytestmark = pytest.mark.reference

CASES, PER_BATCH = 3000, 20
VOCABS = [2, 3, 5, 17, 100, 1000]
KEEPS = [1, 1, 2, 3, 7]


def batches(seed: int):
    """(setting in [0, 1), min_tokens_to_keep, logits (PER_BATCH, V)) for CASES cases: logits of
    several scales, some tokens already masked (-inf) as an earlier cut leaves them."""
    rng = np.random.default_rng(seed)
    for _ in range(CASES // PER_BATCH):
        v = int(rng.choice(VOCABS))
        x = rng.normal(size=(PER_BATCH, v)) * rng.choice([0.3, 1.0, 3.0, 10.0])
        masked = rng.random(x.shape) < rng.choice([0.0, 0.0, 0.3])
        masked[np.arange(PER_BATCH), rng.integers(0, v, PER_BATCH)] = False  # never a whole row
        yield float(rng.random()), int(rng.choice(KEEPS)), np.where(masked, -np.inf, x)


@pytest.fixture(scope="module")
def warpers():
    require_reference()
    import torch
    from transformers.generation import logits_process as lp

    def apply(warper, x):
        return warper(None, torch.from_numpy(x.copy())).numpy()

    return lp, apply


def same(ours: np.ndarray, theirs: np.ndarray) -> bool:
    return np.array_equal(np.isfinite(ours), np.isfinite(theirs)) and np.array_equal(
        ours[np.isfinite(ours)], theirs[np.isfinite(theirs)])


def test_typical_p_matches_transformers_on_3000_cases(warpers):
    lp, apply = warpers
    for u, keep, x in batches(1):
        mass = 0.02 + 0.96 * u
        assert same(TypicalP(mass, keep)(x), apply(lp.TypicalLogitsWarper(mass, min_tokens_to_keep=keep), x)), (mass, keep)


def test_epsilon_cutoff_matches_transformers_on_3000_cases(warpers):
    lp, apply = warpers
    for u, keep, x in batches(2):
        epsilon = float(10 ** (-4 + 3.5 * u))  # 1e-4 to 0.3, log-uniform
        ours = EpsilonCutoff(epsilon, keep)(x)
        assert same(ours, apply(lp.EpsilonLogitsWarper(epsilon, min_tokens_to_keep=keep), x)), (epsilon, keep)


def test_eta_cutoff_matches_transformers_on_3000_cases(warpers):
    lp, apply = warpers
    for u, keep, x in batches(3):
        eta = float(10 ** (-4 + 3.5 * u))
        ours = EtaCutoff(eta, keep)(x)
        assert same(ours, apply(lp.EtaLogitsWarper(eta, min_tokens_to_keep=keep), x)), (eta, keep)


def test_the_chain_matches_generates_warpers_in_their_order(warpers):
    """Temperature, top-k, top-p, min-p, typical, epsilon, eta: the list `_get_logits_processor`
    builds, against next_token_distribution in the transformers order."""
    lp, apply = warpers
    import torch

    rng = np.random.default_rng(4)
    for _ in range(300):
        x = rng.normal(size=200) * rng.choice([1.0, 3.0])
        s = dict(temperature=float(rng.choice([0.5, 1.0, 1.7])), top_k=int(rng.choice([0, 50])),
                 top_p=float(rng.choice([1.0, 0.95])), min_p=float(rng.choice([0.0, 0.02])),
                 typical_p=float(rng.choice([1.0, 0.9, 0.5])), epsilon_cutoff=float(rng.choice([0.0, 3e-4, 3e-3])),
                 eta_cutoff=float(rng.choice([0.0, 2e-3, 2e-2])), min_tokens_to_keep=int(rng.choice([1, 3])))
        keep = s["min_tokens_to_keep"]
        chain = [lp.TemperatureLogitsWarper(s["temperature"])] if s["temperature"] != 1.0 else []
        chain += [lp.TopKLogitsWarper(s["top_k"], min_tokens_to_keep=keep)] if s["top_k"] else []
        chain += [lp.TopPLogitsWarper(s["top_p"], min_tokens_to_keep=keep)] if s["top_p"] < 1 else []
        chain += [lp.MinPLogitsWarper(s["min_p"], min_tokens_to_keep=keep)] if s["min_p"] else []
        chain += [lp.TypicalLogitsWarper(s["typical_p"], min_tokens_to_keep=keep)] if s["typical_p"] < 1 else []
        chain += [lp.EpsilonLogitsWarper(s["epsilon_cutoff"], min_tokens_to_keep=keep)] if s["epsilon_cutoff"] else []
        chain += [lp.EtaLogitsWarper(s["eta_cutoff"], min_tokens_to_keep=keep)] if s["eta_cutoff"] else []
        scores = torch.from_numpy(x[None].copy())
        for warper in chain:
            scores = warper(None, scores)
        theirs = torch.softmax(scores, dim=-1).numpy()[0]
        ours = sampling.next_token_distribution(x, **s)
        assert np.array_equal(ours > 0, theirs > 0), s
        assert ours == pytest.approx(theirs, abs=1e-12), s
