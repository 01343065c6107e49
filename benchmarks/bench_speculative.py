"""Speculative decoding against plain greedy decoding, side by side in one run, identical output checked.

    .venv/bin/python benchmarks/bench_speculative.py

Prints, all greedy (temperature 0) on the course's model:
1. One forward pass's time for 1, 2, 4, 8, 16 new tokens (`speculative.forward_times`): why
   checking a draft is cheap.
2. Prompt lookup over γ = 1..8 on an input-grounded task (repeating a given paragraph and a
   paragraph with its typos fixed) and on open-ended text: tokens/s plain and speculative, the
   speedup, the measured acceptance α, tokens per check, and Leviathan et al.'s predictions.
3. The early-exit draft at a few k: acceptance and speed.

On a machine other jobs share, ``OPENBLAS_NUM_THREADS=1 ... --cpu-time`` times the work by this
process's CPU time instead of the wall clock.

Every speculative text is asserted token for token equal to the plain one. Plain and speculative
run in alternation, `--repeats` times per draft, each timed by its best run, so another process's
load slows both alike. Leviathan et al.'s model: a draft of γ tokens, each kept with probability α,
gives (1 - α^(γ+1)) / (1 - α) tokens per check; with c the cost of a draft token over a pass, the
speedup is that over (γ c + 1), if checking γ + 1 tokens costs one pass. Here it costs more
(part 1), so a second prediction divides by the measured cost: E[tokens] T(1) / (γ c T(1) + T(γ + 1)).
Prompt lookup's α and γ are not Leviathan's (it proposes fewer than γ, or nothing, where the text
has no match), so its "drafted/check" column is printed too.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from course_utils.generation import generate
from course_utils.model import load_model
from course_utils.speculative import EARLY_EXIT_TOKENS, acceptance_rate, expected_speedup, expected_tokens, forward_times

PARAGRAPH = (
    "The river town woke slowly. Fishermen pulled their boats onto the gravel, the baker opened his "
    "shutters, and the ferry bell rang twice across the grey water. By seven the market square was full: "
    "farmers sold apples and cheese, children chased pigeons between the stalls, and the old clockmaker "
    "sat in his doorway, repairing a watch that had belonged to his grandfather. Nobody noticed the "
    "stranger who stepped off the ferry with a leather case under his arm and asked the way to the library."
)
TYPOS = PARAGRAPH.replace("slowly", "slowely").replace("shutters", "shuters").replace("grandfather", "grandfathr")
# Lesson 09's editing task: the first half of the paragraph, with its three typos.
LESSON_09_TYPOS = TYPOS.split(" Nobody")[0]
GROUNDED = {
    "repeat a paragraph": f"Repeat this paragraph exactly, word for word:\n\n{PARAGRAPH}",
    "fix the typos": f"Fix the spelling mistakes in this paragraph and write it out in full:\n\n{TYPOS}",
    "fix the typos (lesson 09's shorter paragraph)":
        f"Fix the spelling mistakes in this paragraph and write it out in full:\n\n{LESSON_09_TYPOS}",
}
OPEN_ENDED = {"a story": "Write a short story about a lighthouse keeper who finds a message in a bottle."}
GAMMAS = range(1, 9)
EARLY_EXITS = (8, 16, 24, 28)


def run(model, prompt: str, **draft):
    started = CLOCK()
    result = generate(model, prompt, max_new_tokens=ARGS.tokens, temperature=0, **draft)
    return CLOCK() - started, result


def compare(model, name: str, message: str, drafts: list[dict], costs: dict[int, float], cost_ratio) -> list[float]:
    """Plain and each draft on one prompt, in alternating runs (another process's load then slows
    both alike); prints a row per draft, its best time against the best of the plain runs that
    alternated with it (the same number of runs on each side), and returns the speedups."""
    prompt = model.chat_prompt(message)
    plain_times, rows = [], []
    for draft in drafts:
        best, best_plain = float("inf"), float("inf")
        for _ in range(ARGS.repeats):
            spent, plain = run(model, prompt)
            best_plain = min(best_plain, spent)
            spent, fast = run(model, prompt, **draft)
            best = min(best, spent)
            assert fast.token_ids == plain.token_ids, f"{name}, {draft}: the speculative text differs from greedy's"
        plain_times.append(best_plain)
        rows.append((draft, best, best_plain, fast.verifications))
    plain_time, n = float(np.median(plain_times)), len(plain.token_ids)
    print(f"\n{name}: {n} tokens, plain {n / plain_time:.1f} tokens/s ({plain_time:.2f} s, the median of its best runs)")
    print(f"  {'draft':<28} {'tok/s':>6} {'speedup':>8} {'α':>5} {'drafted/check':>13} {'tok/check':>9}"
          f" {'Leviathan E[tok]':>16} {'Lev. speedup':>12} {'with T(γ+1)':>11}")
    for draft, spent, spent_plain, checks in rows:
        alpha = acceptance_rate(checks)
        gamma = draft.get("prompt_lookup_num_tokens", EARLY_EXIT_TOKENS)
        c = cost_ratio(draft)
        drafted = np.mean([len(v.drafted) for v in checks])
        predicted = expected_tokens(alpha, gamma) if np.isfinite(alpha) else float("nan")
        leviathan = expected_speedup(alpha, gamma, c) if np.isfinite(alpha) else float("nan")
        with_cost = predicted * costs[1] / (gamma * c * costs[1] + costs[min(gamma + 1, max(costs))])
        label = ", ".join(f"{k}={v}" for k, v in draft.items())
        print(f"  {label:<28} {n / spent:6.1f} {spent_plain / spent:7.2f}x {alpha:5.2f} {drafted:13.1f}"
              f" {n / len(checks):9.2f} {predicted:16.2f} {leviathan:11.2f}x {with_cost:10.2f}x")
    return [spent_plain / spent for _, spent, spent_plain, _ in rows]


def main() -> None:
    model = load_model()
    print(f"Clock: {'CPU time of this process' if ARGS.cpu_time else 'wall clock'}; "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}")
    ids = model.encode(model.chat_prompt(GROUNDED["repeat a paragraph"]))
    costs = forward_times(model, ids, (1, 2, 3, 4, 5, 6, 7, 8, 9, 16), repeats=7, clock=CLOCK)
    print("One forward pass after the prompt, by new tokens (best of 7, this machine):")
    for count in (1, 2, 4, 8, 16):
        print(f"  {count:2d} new tokens: {costs[count] * 1e3:6.1f} ms  ({costs[count] / costs[1]:.2f}x one token)")
    exit_costs = {k: _exit_cost(model, ids, k) / costs[1] for k in EARLY_EXITS}
    print("An early-exit draft token (k blocks, final norm, LM head) over one full pass: "
          + ", ".join(f"k={k}: {c:.2f}" for k, c in exit_costs.items()))

    def cost_ratio(draft: dict) -> float:
        # Prompt lookup's draft is an n-gram search: no model pass, c = 0.
        return exit_costs[draft["assistant_early_exit"]] if "assistant_early_exit" in draft else 0.0

    lookup = [dict(prompt_lookup_num_tokens=g) for g in GAMMAS]
    grounded = {name: message for name, message in GROUNDED.items() if ARGS.only in name}
    best = [max(compare(model, name, message, lookup, costs, cost_ratio)) for name, message in grounded.items()]
    print(f"\nInput-grounded, best speedup per task: {', '.join(f'{s:.2f}x' for s in best)}")
    if ARGS.only:
        return
    for name, message in OPEN_ENDED.items():
        compare(model, name, message, lookup, costs, cost_ratio)
    early = [dict(assistant_early_exit=k) for k in EARLY_EXITS]
    for name, message in (("repeat a paragraph", GROUNDED["repeat a paragraph"]), ("a story", OPEN_ENDED["a story"])):
        compare(model, f"{name}, early-exit draft ({EARLY_EXIT_TOKENS} tokens per check)", message, early, costs,
                cost_ratio)


def _exit_cost(model, ids, k: int) -> float:
    """Seconds of one early-exit pass of one token after `ids` (best of 9)."""
    cache = model.new_cache(1)
    model.forward(np.array([ids]), cache)
    best = float("inf")
    for _ in range(9):
        started = CLOCK()
        model.forward(np.array([[ids[-1]]]), cache, exit_after=k)
        best = min(best, CLOCK() - started)
        cache.truncate(len(ids))
    return best


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=128, help="max_new_tokens of every generation")
    parser.add_argument("--repeats", type=int, default=2, help="runs per timing (the best is kept)")
    parser.add_argument("--only", default="", help="run only the input-grounded tasks whose name contains this text")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by this process's CPU time, not the wall clock: steadier while other jobs share "
                        "the machine (run it with OPENBLAS_NUM_THREADS=1, so one thread does the work)")
    ARGS = parser.parse_args()
    CLOCK = time.process_time if ARGS.cpu_time else time.perf_counter
    main()
