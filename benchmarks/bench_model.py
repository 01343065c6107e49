"""Benchmark: the course's numpy SmolLM2 next to transformers (torch CPU) on the same GGUF file.

    flock /tmp/dd_heavy.lock .venv/bin/python benchmarks/bench_model.py

Each measurement runs in a fresh Python process, so load time starts from nothing and peak
memory (max RSS) belongs to one implementation only:

* load: import + read the GGUF file + dequantize + build the tokenizer (first call in a kernel)
* prompt: one forward pass over a 77-token prompt, in tokens/s (median of 3)
* decode: 64 new tokens one at a time with the KV cache (greedy), in tokens/s (median of 3)
* generate(): 64 new tokens through course_utils.generation (sampling included)
* batch 1 vs batch 8: generate_batch over 8 prompts, one at a time vs all together

Targets (issue 3): decode >= 25 tokens/s, load <= 6 s, peak memory <= 1 GB, and at least as
fast as transformers (torch CPU, 2 threads) in the same run. Prints figures; asserts nothing.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time

PROMPT = (
    "The history of the printing press begins in the fifteenth century, when Johannes Gutenberg "
    "combined movable metal type, oil-based ink and a wooden screw press into a system that could "
    "produce books faster and more cheaply than ever before. Within fifty years, presses had spread "
    "to more than two hundred cities across Europe, and the number of books in circulation grew "
    "from thousands to millions. Historians still argue about"
)
BATCH_PROMPTS = [
    "The history of the printing press",
    "Once upon a time, in a small village by the sea,",
    "The three most important things to know about volcanoes are",
    "def quicksort(items):",
    "My favourite recipe for a rainy day is",
    "In 1905, Albert Einstein published",
    "The best way to learn a new language is",
    "Dear hiring manager, I am writing to apply for",
]
NEW_TOKENS = 64
REPEATS = 3  # decode is timed 3 times, the median reported: the machine is shared
THREADS = 2


def peak_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def median_seconds(run) -> float:
    """Median wall time of REPEATS calls, after one warm-up call."""
    run()
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def part_numpy() -> dict:
    import numpy as np

    start = time.perf_counter()
    from course_utils.model import load_model

    model = load_model()
    load_s = time.perf_counter() - start
    ids = model.encode(PROMPT)
    prompt_s = median_seconds(lambda: model.forward(np.array([ids]), model.new_cache()))
    logits = model.next_token_logits(ids)
    prompt_ids, first_logits = ids, logits
    runs = []
    for _ in range(REPEATS):
        ids, logits = prompt_ids, first_logits
        start = time.perf_counter()
        for _ in range(NEW_TOKENS):
            ids = ids + [int(logits.argmax())]
            logits = model.next_token_logits(ids)
        runs.append(time.perf_counter() - start)
    decode_s = statistics.median(runs)

    from course_utils.generation import generate

    start = time.perf_counter()
    g = generate(model, PROMPT, max_new_tokens=NEW_TOKENS, temperature=0.8, top_p=0.95, seed=0)
    generate_s = time.perf_counter() - start
    return {
        "load_s": load_s,
        "prompt_tokens": len(model.encode(PROMPT)),
        "prompt_tok_s": len(model.encode(PROMPT)) / prompt_s,
        "decode_tok_s": NEW_TOKENS / decode_s,
        "generate_tok_s": len(g.token_ids) / generate_s,
        "peak_mb": peak_rss_mb(),
    }


def part_transformers() -> dict:
    start = time.perf_counter()
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from course_utils.model import bundled_model_path

    torch.set_num_threads(THREADS)
    path = bundled_model_path()
    tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
    model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32).eval()
    load_s = time.perf_counter() - start
    ids = torch.tensor([tokenizer.encode(PROMPT, add_special_tokens=False)])
    with torch.inference_mode():
        prompt_s = median_seconds(lambda: model(ids, use_cache=True))
        runs = []
        for _ in range(REPEATS):
            out = model(ids, use_cache=True)
            past, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            start = time.perf_counter()
            for _ in range(NEW_TOKENS):
                out = model(token, past_key_values=past, use_cache=True)
                past, token = out.past_key_values, out.logits[:, -1].argmax(-1, keepdim=True)
            runs.append(time.perf_counter() - start)
        decode_s = statistics.median(runs)
        start = time.perf_counter()
        generated = model.generate(
            ids, attention_mask=torch.ones_like(ids), do_sample=True, temperature=0.8, top_p=0.95, top_k=0,
            max_new_tokens=NEW_TOKENS, min_new_tokens=NEW_TOKENS, pad_token_id=tokenizer.eos_token_id,
        )
        generate_s = time.perf_counter() - start
    return {
        "load_s": load_s,
        "prompt_tokens": ids.shape[1],
        "prompt_tok_s": ids.shape[1] / prompt_s,
        "decode_tok_s": NEW_TOKENS / decode_s,
        "generate_tok_s": (generated.shape[1] - ids.shape[1]) / generate_s,
        "peak_mb": peak_rss_mb(),
    }


def part_batch() -> dict:
    from course_utils.generation import generate_batch
    from course_utils.model import load_model

    model = load_model()
    settings = dict(max_new_tokens=NEW_TOKENS, temperature=1.0, top_p=0.95, seed=0)
    generate_batch(model, BATCH_PROMPTS[:1], **{**settings, "max_new_tokens": 2})  # warm up
    start = time.perf_counter()
    one = [generate_batch(model, [p], **{**settings, "seed": i})[0] for i, p in enumerate(BATCH_PROMPTS)]
    one_s = time.perf_counter() - start
    start = time.perf_counter()
    eight = generate_batch(model, BATCH_PROMPTS, **settings)
    eight_s = time.perf_counter() - start
    same = all(a.token_ids == b.token_ids for a, b in zip(one, eight))
    return {
        "batch1_tok_s": sum(len(g.token_ids) for g in one) / one_s,
        "batch8_tok_s": sum(len(g.token_ids) for g in eight) / eight_s,
        "batch_results_identical": same,
        "peak_mb": peak_rss_mb(),
    }


PARTS = {"numpy": part_numpy, "transformers": part_transformers, "batch": part_batch}


def run_part(name: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--part", name], capture_output=True, text=True, check=False,
        env={**os.environ, "TOKENIZERS_PARALLELISM": "false"},
    )
    if done.returncode != 0:
        raise RuntimeError(f"part {name} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    print(f"numpy SmolLM2-135M-Instruct (Q4_1 GGUF, dequantized to float32) vs transformers {THREADS} threads")
    print(f"cpu cores: {os.cpu_count()}, {NEW_TOKENS} new tokens, one fresh process per measurement\n")
    ours, theirs, batch = run_part("numpy"), run_part("transformers"), run_part("batch")
    rows = [
        ("load (s)", "load_s", "{:.2f}", "<= 6 s"),
        ("prompt processing (tok/s)", "prompt_tok_s", "{:.0f}", ""),
        ("decode, greedy + KV cache (tok/s)", "decode_tok_s", "{:.1f}", ">= 25 tok/s"),
        ("generate(), sampling (tok/s)", "generate_tok_s", "{:.1f}", ""),
        ("peak memory (MB)", "peak_mb", "{:.0f}", "<= 1024 MB"),
    ]
    print(f"{'':36}{'numpy (course)':>16}{'transformers':>14}   target")
    for label, key, fmt, target in rows:
        print(f"{label:36}{fmt.format(ours[key]):>16}{fmt.format(theirs[key]):>14}   {target}")
    print(f"\nprompt length: {ours['prompt_tokens']} tokens")
    print(f"decode speed vs transformers: {ours['decode_tok_s'] / theirs['decode_tok_s']:.2f}x")
    print(f"\nbatched generation (course_utils.generation.generate_batch, {len(BATCH_PROMPTS)} prompts x {NEW_TOKENS} tokens, T=1, top_p=0.95):")
    print(f"  batch 1: {batch['batch1_tok_s']:.1f} tok/s   batch 8: {batch['batch8_tok_s']:.1f} tok/s   "
          f"speed-up {batch['batch8_tok_s'] / batch['batch1_tok_s']:.2f}x   "
          f"same tokens as batch 1: {batch['batch_results_identical']}   peak {batch['peak_mb']:.0f} MB")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--part":
        print(json.dumps(PARTS[sys.argv[2]]()))
    else:
        main()
