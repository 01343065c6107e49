"""One full sampling step: course_utils.sampling against transformers' warper chain.

A step is temperature 0.7, top-k 50, top-p 0.9, min-p 0.05 and one draw, on the same float32
logits for both, at SmolLM2's vocabulary (49,152) and Llama 3's (128,256); then the same step
with top_k=0. Each side's time is the median of many repetitions; the two sides alternate for
``--runs`` runs (5 by default), and the speed-up printed is the median of the runs' ratios, with
their range: on a shared machine a single ratio swings with the load.

Then what the repetition dials add to that step at SmolLM2's vocabulary (target: at most 0.3 ms),
with 300 ids of history (a 100-token prompt and 200 generated tokens, as the replication's), and
what one step of beam search costs on the course's model (its forward pass over num_beams rows,
the cache reorder and the candidate selection), per number of beams.

Then each sampler beyond top-p alone (lesson 08) at both vocabularies: typical, epsilon and eta
side by side with transformers' own warper on the same logits (alternating runs, the median of
their ratios), top-nσ, XTC (acting) and mirostat alone, and DRY per window length
(dry_penalty_last_n) on a history that repeats itself. ``--samplers`` runs only that part.

    .venv/bin/python benchmarks/bench_sampling.py [--samplers]
"""

import argparse
import statistics
import time

import numpy as np

from course_utils.processors import DRY, XTC, EpsilonCutoff, EtaCutoff, History, Mirostat, TopNSigma, TypicalP
from course_utils.sampling import sample_next_token

# Each row: the dials added to STEP (top_k=50), as lesson 06 and the replication use them.
PENALTY_SETTINGS = {
    "repetition_penalty=1.2": dict(repetition_penalty=1.2),
    "frequency 0.5 + presence 0.5": dict(frequency_penalty=0.5, presence_penalty=0.5),
    "no_repeat_ngram_size=3": dict(no_repeat_ngram_size=3),
    "all three": dict(repetition_penalty=1.2, frequency_penalty=0.5, presence_penalty=0.5, no_repeat_ngram_size=3),
    "llama.cpp penalties (last 64)": dict(repetition_penalty=1.2, frequency_penalty=0.5, order="llama.cpp"),
    "logit_bias (10 ids)": dict(logit_bias={i: -5.0 for i in range(10)}),
}
BEAM_WIDTHS = [4, 16]
# Each sampler at a setting the lesson uses; the warper transformers has for it (None: it has none).
SAMPLERS = {
    "typical_p=0.9": (lambda: TypicalP(0.9), lambda lp: lp.TypicalLogitsWarper(0.9)),
    "epsilon_cutoff=3e-4": (lambda: EpsilonCutoff(3e-4), lambda lp: lp.EpsilonLogitsWarper(3e-4)),
    "eta_cutoff=2e-3": (lambda: EtaCutoff(2e-3), lambda lp: lp.EtaLogitsWarper(2e-3)),
    "top_n_sigma=1.0": (lambda: TopNSigma(1.0), None),
    "xtc 1.0 above 0.1": (lambda: XTC(1.0, 0.1), None),
    "mirostat 2 (tau 5)": (lambda: Mirostat(2, 5.0), None),
}
DRY_WINDOWS = [64, 256, 1024, 4096]

VOCABS = [49_152, 128_256]
STEP = dict(temperature=0.7, top_p=0.9, min_p=0.05)


def median_ms(fn, repeats):
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def model_like_logits(vocab, rng):
    x = rng.normal(0.0, 2.5, size=vocab)
    x[rng.integers(0, vocab, size=20)] += rng.uniform(4, 10, size=20)
    return x.astype(np.float32)


def transformers_step(logits, top_k):
    import torch
    from transformers.generation import logits_process as lp

    warpers = [lp.TemperatureLogitsWarper(STEP["temperature"])]
    if top_k:
        warpers.append(lp.TopKLogitsWarper(top_k))
    warpers += [lp.TopPLogitsWarper(STEP["top_p"]), lp.MinPLogitsWarper(STEP["min_p"])]
    scores = torch.from_numpy(logits[None, :])
    generator = torch.Generator().manual_seed(0)

    def step():
        s = scores
        for warper in warpers:
            s = warper(None, s)
        return torch.multinomial(torch.softmax(s, dim=-1), 1, generator=generator)

    return step


def main():
    parser = argparse.ArgumentParser(description="One sampling step: course_utils against transformers.")
    parser.add_argument("--runs", type=int, default=5, help="alternating runs of both sides per row")
    parser.add_argument("--samplers", action="store_true", help="only the samplers beyond top-p")
    args = parser.parse_args()
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
        print("torch/transformers not installed: timing course_utils only (pip install -e '.[reference]').")
    rng = np.random.default_rng(0)
    if args.samplers:
        sampler_costs(rng, args.runs, torch is not None)
        return
    print(f"median of {args.runs} alternating runs (min-max of the speed-up)")
    print(f"{'vocab':>8} {'top_k':>6} {'course_utils ms':>16} {'transformers ms':>16} {'speed-up':>9} {'range':>13}")
    for vocab in VOCABS:
        logits = model_like_logits(vocab, rng)
        for top_k in (50, 0):
            draw_rng = np.random.default_rng(1)
            ours, theirs = [], []
            for _ in range(args.runs):
                ours.append(median_ms(lambda: sample_next_token(logits, rng=draw_rng, top_k=top_k, **STEP),
                                      400 if top_k else 60))
                if torch is not None:
                    theirs.append(median_ms(transformers_step(logits, top_k), 200 if top_k else 60))
            mine = statistics.median(ours)
            if torch is None:
                print(f"{vocab:>8} {top_k:>6} {mine:>16.3f}")
                continue
            ratios = [t / o for t, o in zip(theirs, ours)]
            print(f"{vocab:>8} {top_k:>6} {mine:>16.3f} {statistics.median(theirs):>16.3f} "
                  f"{statistics.median(ratios):>8.1f}x {min(ratios):>5.1f}-{max(ratios):.1f}x")
    penalty_costs(rng)
    sampler_costs(rng, args.runs, torch is not None)
    beam_search_costs()


def penalty_costs(rng):
    """The added cost of each dial on one sampling step at SmolLM2's vocabulary."""
    vocab = VOCABS[0]
    logits = model_like_logits(vocab, rng)
    history = dict(prompt_ids=rng.integers(0, vocab, 100).tolist(), generated_ids=rng.integers(0, vocab, 200).tolist())
    draw_rng = np.random.default_rng(1)
    base = median_ms(lambda: sample_next_token(logits, rng=draw_rng, top_k=50, **STEP, **history), 400)
    print(f"\nrepetition dials, one step at vocab {vocab} (top_k=50, 300 ids of history): base {base:.3f} ms")
    print(f"{'dials':>32} {'step ms':>9} {'added ms':>9}")
    for name, dials in PENALTY_SETTINGS.items():
        ms = median_ms(lambda: sample_next_token(logits, rng=draw_rng, top_k=50, **STEP, **history, **dials), 400)
        print(f"{name:>32} {ms:>9.3f} {ms - base:>9.3f}")


def sampler_costs(rng, runs: int, with_torch: bool):
    """Each sampler beyond top-p alone on one row of logits, per vocabulary; transformers' warper on
    the same (float32) logits where it has one, the two alternating for `runs` runs."""
    lp = None
    if with_torch:
        import torch
        from transformers.generation import logits_process as lp
    print(f"\nsamplers beyond top-p, alone on one row (median of {runs} alternating runs; min-max of the speed-up)")
    print(f"{'vocab':>8} {'sampler':>22} {'course ms':>10} {'transformers ms':>16} {'speed-up':>9} {'range':>13}")
    for vocab in VOCABS:
        logits = model_like_logits(vocab, rng)
        x = logits.astype(np.float64)
        for name, (ours_of, theirs_of) in SAMPLERS.items():
            processor = ours_of()
            ours, theirs = [], []
            for _ in range(runs):
                ours.append(median_ms(lambda: processor(x), 60))
                if lp is not None and theirs_of is not None:
                    warper, scores = theirs_of(lp), torch.from_numpy(logits[None, :])
                    theirs.append(median_ms(lambda: warper(None, scores), 60))
            mine = statistics.median(ours)
            if not theirs:
                print(f"{vocab:>8} {name:>22} {mine:>10.3f} {'(none)':>16}")
                continue
            ratios = [t / o for t, o in zip(theirs, ours)]
            print(f"{vocab:>8} {name:>22} {mine:>10.3f} {statistics.median(theirs):>16.3f} "
                  f"{statistics.median(ratios):>8.1f}x {min(ratios):>5.1f}-{max(ratios):.1f}x")
        dry_costs(x, vocab, rng)


def dry_costs(x, vocab: int, rng):
    """DRY (multiplier 0.8, llama.cpp's other defaults) per window length, on a history of random
    ids in which a 40-token passage comes back every 200 tokens (repeats for it to find)."""
    passage = rng.integers(0, vocab, 40)
    ids = np.concatenate([np.concatenate([rng.integers(0, vocab, 160), passage]) for _ in range(max(DRY_WINDOWS) // 200 + 1)])
    history = [History(ids[:-1], ids[-1:])]
    for window in DRY_WINDOWS:
        dry = DRY(0.8, dry_penalty_last_n=window)
        ms = median_ms(lambda: dry(x[None].copy(), history), 60)
        print(f"{vocab:>8} {f'DRY last {window}':>22} {ms:>10.3f} {'(none)':>16}")


def beam_search_costs():
    """Beam search per step on the course's model: a greedy step for comparison, then per width."""
    from course_utils.beam_search import beam_search
    from course_utils.generation import generate
    from course_utils.model import load_model

    model = load_model()
    prompt, steps = "The Romans built roads that", 16
    greedy = median_ms(lambda: generate(model, prompt, temperature=0, max_new_tokens=steps), 3) / steps
    print(f"\nbeam search on the course's model ({steps} steps after a {len(model.encode(prompt))}-token prompt)")
    print(f"{'method':>18} {'ms per step':>12}")
    print(f"{'greedy':>18} {greedy:>12.1f}")
    for width in BEAM_WIDTHS:
        ms = median_ms(
            lambda: beam_search(model, prompt, num_beams=width, max_new_tokens=steps, early_stopping="never"), 3
        ) / steps
        print(f"{f'{width} beams':>18} {ms:>12.1f}")


if __name__ == "__main__":
    main()
