"""What one generate() step costs outside the model's forward pass: the engine's own time.

A replay model answers next_token_logits with the logits the course's model computed along a real
64-token generation (recorded once), so a step costs only the engine: the penalties, the chain,
the draw and the step's record. The settings are a lesson's, penalties on, at SmolLM2's vocabulary.

With ``--against DIR`` (another checkout of the course, e.g. ``git worktree add /tmp/old <commit>``),
both trees are timed in alternating runs in fresh processes, each importing its own course_utils,
and the medians and spreads of both are printed:

    .venv/bin/python benchmarks/bench_step.py --against /tmp/old --runs 7
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SETTINGS = {
    "top-p 0.9, repetition 1.2": dict(temperature=0.8, top_p=0.9, repetition_penalty=1.2),
    "top-k 50, all penalties": dict(temperature=0.8, top_k=50, top_p=0.95, repetition_penalty=1.2,
                                    frequency_penalty=0.5, presence_penalty=0.5, no_repeat_ngram_size=3),
}
PROMPT, STEPS, SEED = "The ancient Romans built roads that", 64, 3


class ReplayModel:
    """The course's model, except that next_token_logits replays recorded rows (no forward pass)."""

    def __init__(self, model, prompt_length: int, rows):
        self.model, self.prompt_length, self.rows = model, prompt_length, rows

    def __getattr__(self, name):
        return getattr(self.model, name)

    def next_token_logits(self, ids):
        return self.rows[len(ids) - self.prompt_length].copy()


def worker() -> dict:
    """Time each setting in this process (whichever course_utils is importable) and print ms/step."""
    import numpy as np

    from course_utils.generation import generate
    from course_utils.model import load_model

    model = load_model()
    prompt_ids = model.encode(PROMPT)
    result = {}
    for name, settings in SETTINGS.items():
        real = generate(model, PROMPT, max_new_tokens=STEPS, seed=SEED, **settings)
        ids = prompt_ids + real.token_ids
        rows = [np.asarray(model.next_token_logits(ids[: len(prompt_ids) + i])) for i in range(len(real.token_ids))]
        replay = ReplayModel(model, len(prompt_ids), rows)
        generate(replay, prompt_ids, max_new_tokens=len(rows), seed=SEED, **settings)  # warm-up
        times = []
        for _ in range(5):
            start = time.perf_counter()
            g = generate(replay, prompt_ids, max_new_tokens=len(rows), seed=SEED, **settings)
            times.append((time.perf_counter() - start) / len(g.token_ids) * 1e3)
        assert g.token_ids == real.token_ids, "the replay must draw what the model drew"
        result[name] = min(times)  # the least disturbed of a few back-to-back runs
    return result


def run_tree(tree: Path) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("COURSE_MIN_MARGIN", None)
    out = subprocess.run([sys.executable, __file__, "--worker"], env=env, cwd=tree, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", type=Path, help="another checkout to time in alternation")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker()))
        return
    here = Path(__file__).resolve().parents[1]
    trees = {"this tree": here, **({f"{args.against}": args.against.resolve()} if args.against else {})}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    for _ in range(args.runs):
        for name, tree in trees.items():
            runs[name].append(run_tree(tree))
    print(f"one generate() step outside the forward pass, ms (median of {args.runs} alternating runs; min-max)")
    for setting in SETTINGS:
        print(f"  {setting}:")
        for name in trees:
            values = [r[setting] for r in runs[name]]
            print(f"    {name:>14}: {statistics.median(values):.3f}  ({min(values):.3f}-{max(values):.3f})")


if __name__ == "__main__":
    main()
