"""One full sampling step: course_utils.sampling against transformers' warper chain.

A step is temperature 0.7, top-k 50, top-p 0.9, min-p 0.05 and one draw, on the same float32
logits for both, at SmolLM2's vocabulary (49,152) and Llama 3's (128,256); then the same step
with top_k=0. Prints the median of many repetitions and the speed-up.

    .venv/bin/python benchmarks/bench_sampling.py
"""

import statistics
import time

import numpy as np

from course_utils.sampling import sample_next_token

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
    try:
        import torch

        torch.set_num_threads(2)
    except ImportError:
        torch = None
        print("torch/transformers not installed: timing course_utils only (pip install -e '.[reference]').")
    rng = np.random.default_rng(0)
    print(f"{'vocab':>8} {'top_k':>6} {'course_utils ms':>16} {'transformers ms':>16} {'speed-up':>9}")
    for vocab in VOCABS:
        logits = model_like_logits(vocab, rng)
        for top_k in (50, 0):
            draw_rng = np.random.default_rng(1)
            ours = median_ms(lambda: sample_next_token(logits, rng=draw_rng, top_k=top_k, **STEP), 400 if top_k else 60)
            if torch is None:
                print(f"{vocab:>8} {top_k:>6} {ours:>16.3f}")
                continue
            theirs = median_ms(transformers_step(logits, top_k), 200 if top_k else 60)
            print(f"{vocab:>8} {top_k:>6} {ours:>16.3f} {theirs:>16.3f} {theirs / ours:>8.1f}x")


if __name__ == "__main__":
    main()
