"""A small study at high temperature: top-p, min-p, top-nσ, η, DRY and XTC at T = 1, 1.5, 2 and 3.

Nguyen et al. (2024), "Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM
Outputs", claim that min-p keeps text coherent at high temperature where top-p degrades;
Schaeffer et al. (2025), "Min-p, Max Exaggeration", re-examine that evidence. This script runs
the course's SmolLM2-135M-Instruct (plain-text mode) over the first prompts of
``data/holtzman_prompts.json`` with each method at each temperature and measures the text as
``scripts/replicate_holtzman.py`` does (perplexity under the unmodified model, distinct-2,
Self-BLEU-4, the loop rate). It writes its own results file, so lessons 05 and 06 do not move.
The committed ``data/high_temperature_replication.json`` came from

    .venv/bin/python scripts/replicate_high_temperature.py \\
        --prompts 12 --max-new-tokens 100 --batch-size 12 --seed 0 --out data/high_temperature_replication.json

(24 cells x 12 prompts x up to 100 tokens: 26,535 generated tokens, the rest cut by end-of-sequence; 10 min 43 s wall on 2026-12-07 on the
course's 2-core machine while other jobs shared it, run with OPENBLAS_NUM_THREADS=1: with two BLAS
threads on a busy machine the model ran several times slower). The file records the command and the
generation time. It is a small study: 12 prompts of 100 tokens per cell, one 135M model.

Every method runs in transformers' order (temperature first, then the cuts), the order of the
min-p paper's experiments. DRY and XTC are not truncation rules of their own, so their rows add
them to min-p 0.1 (llama.cpp's defaults for the settings not named). η = 0.002 is the top of
the range transformers suggests (3e-4 to 2e-3). Every generation of a prompt uses the seed
``[seed, prompt_index]`` whatever the method and temperature.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from replicate_holtzman import METRIC_DEFINITIONS, _decode, _ProgressModel, load_prompts, summarize, to_json  # noqa: E402

from course_utils.degeneration import loop_at_end  # noqa: E402
from course_utils.model import load_model  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SCHEMA_VERSION = 1
TEMPERATURES = (1.0, 1.5, 2.0, 3.0)

# name -> (label, settings without the temperature)
METHODS: dict[str, tuple[str, dict]] = {
    "top_p_0.9": ("top-p 0.9", {"top_p": 0.9}),
    "min_p_0.1": ("min-p 0.1", {"min_p": 0.1}),
    "top_n_sigma_1.0": ("top-nσ 1.0", {"top_n_sigma": 1.0}),
    "eta_0.002": ("η 0.002", {"eta_cutoff": 0.002}),
    "min_p_0.1_dry_0.8": ("min-p 0.1 + DRY 0.8", {"min_p": 0.1, "dry_multiplier": 0.8}),
    "min_p_0.1_xtc_0.5": ("min-p 0.1 + XTC 0.5 / 0.1", {"min_p": 0.1, "xtc_probability": 0.5, "xtc_threshold": 0.1}),
}

SOURCES = {
    "min_p": "Nguyen, Baker, Neo, Roush, Kirsch, Shwartz-Ziv (2024). Turning Up the Heat: Min-p Sampling "
    "for Creative and Coherent LLM Outputs. arXiv:2407.01082 (ICLR 2025)",
    "critique": "Schaeffer, Kazdan, Denisov-Blanch (2025). Min-p, Max Exaggeration: A Critical Analysis of "
    "Min-p Sampling in Language Models. arXiv:2506.13681",
}


def run(model, prompts, *, max_new_tokens, seed, batch_size, temperatures, methods, show_progress=True) -> dict:
    cells = {}
    total = len(temperatures) * len(methods) * len(prompts) * max_new_tokens
    start, n_tokens = time.perf_counter(), 0
    with tqdm(total=total, unit="tok", file=sys.stderr, disable=not show_progress) as bar:
        counting = _ProgressModel(model, bar)
        for t in temperatures:
            for name in methods:
                label, settings = METHODS[name]
                settings = {"temperature": t, **settings}
                bar.set_description(f"T={t:g} {name:>18}")
                generations = []
                for i, (text, ids, logprobs, hit_eos) in enumerate(
                    _decode(model, counting, bar, prompts, settings, max_new_tokens, seed, batch_size)
                ):
                    loop = loop_at_end(ids)
                    generations.append({
                        "prompt_index": i, "text": text, "token_ids": ids,
                        "logprobs": [round(lp, 4) for lp in logprobs], "hit_eos": hit_eos,
                        "loop": None if loop is None else {"period": loop.period, "span": loop.span},
                    })
                    n_tokens += len(ids)
                cells[f"{name}@{t:g}"] = {
                    "method": name, "label": label, "temperature": t, "settings": settings,
                    "metrics": summarize(generations), "generations": generations,
                }
    elapsed = time.perf_counter() - start
    return {"cells": cells, "timing": {"seconds": round(elapsed, 1), "generated_tokens": n_tokens,
                                       "tokens_per_second": round(n_tokens / elapsed, 1)}}


def format_table(results: dict) -> str:
    header = f"{'method':<28}{'T':>5}{'loop %':>8}{'ppl':>10}{'dist-2':>8}{'S-BLEU4':>9}"
    lines = [header, "-" * len(header)]
    for cell in results["cells"].values():
        m = cell["metrics"]
        lines.append(f"{cell['label']:<28}{cell['temperature']:>5g}{m['repetition_pct']:>8.1f}"
                     f"{m['perplexity']:>10.2f}{m['distinct_2']:>8.3f}{m['self_bleu_4']:>9.3f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--prompts", type=int, default=12)
    parser.add_argument("--max-new-tokens", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch-size", type=int, default=12)
    parser.add_argument("--temperatures", type=float, nargs="+", default=list(TEMPERATURES))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--out", type=Path, default=REPO / "data" / "high_temperature_replication.json")
    parser.add_argument("--no-progress", action="store_true")
    args = parser.parse_args(argv)
    prompts = load_prompts(args.prompts)
    model = load_model()
    results = run(model, prompts, max_new_tokens=args.max_new_tokens, seed=args.seed, batch_size=args.batch_size,
                  temperatures=args.temperatures, methods=args.methods, show_progress=not args.no_progress)
    out = {
        "schema_version": SCHEMA_VERSION,
        "description": "A small study of samplers at high temperature with the course's model (lesson 08).",
        "command": "python scripts/replicate_high_temperature.py " + shlex.join(argv if argv is not None else sys.argv[1:]),
        "config": {"model": model.name, "prompt_file": "data/holtzman_prompts.json", "prompts": prompts,
                   "max_new_tokens": args.max_new_tokens, "seed": args.seed, "batch_size": args.batch_size,
                   "temperatures": args.temperatures, "order": "transformers"},
        "metric_definitions": METRIC_DEFINITIONS,
        "sources": SOURCES,
        **results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_json(out), encoding="utf-8")
    print(format_table(out))
    print(f"\nwrote {args.out} in {out['timing']['seconds']} s")
    return out


if __name__ == "__main__":
    main()
