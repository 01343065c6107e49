"""The Holtzman replication script, run for real on a tiny configuration, and its committed results."""

import importlib.util
import json
import math
from pathlib import Path

import pytest

from course_utils.degeneration import PAPER_TABLE1, loop_at_end, perplexity
from course_utils.reproducibility import required_margin

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "replicate_holtzman.py"
COMMITTED = REPO / "data" / "holtzman_replication.json"
PROMPTS = REPO / "data" / "holtzman_prompts.json"

METRICS = ("repetition_pct", "perplexity", "distinct_2", "self_bleu_4", "mean_new_tokens", "eos_pct")


def load_script():
    spec = importlib.util.spec_from_file_location("replicate_holtzman", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def script():
    return load_script()


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, script):
    """Run the CLI on 3 prompts x 8 new tokens (about 10 s with the model loaded)."""
    out = tmp_path_factory.mktemp("replication") / "results.json"
    argv = ["--prompts", "3", "--max-new-tokens", "8", "--seed", "1", "--batch-size", "2", "--out", str(out)]
    # Module-scoped, so conftest's per-test removal of COURSE_MIN_MARGIN does not reach it: a unit
    # test of the script, like every unit test, runs without the lessons' margin requirement.
    with required_margin(0):
        returned = script.main(argv)
    return out, returned, script


def check_results(results: dict, *, n_prompts: int, max_new_tokens: int, methods) -> None:
    """The schema and the ranges every results file must satisfy."""
    assert results["schema_version"] == 1
    assert results["paper"]["table1"] == PAPER_TABLE1
    config = results["config"]
    assert config["max_new_tokens"] == max_new_tokens
    assert len(config["prompts"]) == n_prompts
    assert list(results["methods"]) == list(methods)
    for name, method in results["methods"].items():
        metrics = method["metrics"]
        assert set(metrics) == set(METRICS)
        assert 0.0 <= metrics["repetition_pct"] <= 100.0
        assert 0.0 <= metrics["eos_pct"] <= 100.0
        assert 0.0 <= metrics["mean_new_tokens"] <= max_new_tokens
        if metrics["perplexity"] is not None:
            assert 1.0 <= metrics["perplexity"] < 49_152  # at most uniform over the vocabulary
        for key in ("distinct_2", "self_bleu_4"):
            if metrics[key] is not None:
                assert 0.0 <= metrics[key] <= 1.0
        generations = method["generations"]
        assert [g["prompt_index"] for g in generations] == list(range(n_prompts))
        for g in generations:
            assert len(g["token_ids"]) == len(g["logprobs"]) <= max_new_tokens
            assert all(lp <= 0.0 for lp in g["logprobs"])
            assert g["hit_eos"] or len(g["token_ids"]) == max_new_tokens
            loop = loop_at_end(g["token_ids"])
            assert g["loop"] == (None if loop is None else {"period": loop.period, "span": loop.span})
        # The pooled perplexity is recomputable from what the file stores.
        logprobs = [lp for g in generations for lp in g["logprobs"]]
        if logprobs:
            assert metrics["perplexity"] == pytest.approx(perplexity(logprobs), rel=1e-3)


@pytest.mark.slow
def test_tiny_run_writes_a_complete_results_file(tiny_run):
    out, returned, script = tiny_run
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(returned))
    check_results(written, n_prompts=3, max_new_tokens=8, methods=script.METHODS)
    assert written["timing"]["generated_tokens"] > 0
    assert written["command"].startswith("python scripts/replicate_holtzman.py --prompts 3")


@pytest.mark.slow
def test_tiny_run_settings_do_what_they_say(tiny_run):
    out, _, script = tiny_run
    results = json.loads(out.read_text(encoding="utf-8"))
    methods = results["methods"]
    assert methods["greedy"]["settings"] == {"temperature": 0.0}
    assert methods["pure_sampling"]["settings"] == {"temperature": 1.0, "top_k": 0}
    assert methods["beam_search_16"]["settings"] == {"num_beams": 16}
    assert methods["greedy_repetition_penalty_1.2"]["settings"] == {"temperature": 0.0, "repetition_penalty": 1.2}
    assert methods["temperature_0.7_frequency_penalty_0.5"]["settings"] == {"temperature": 0.7, "frequency_penalty": 0.5}
    # The penalty moves greedy off its own choices: some token differs from plain greedy's.
    plain = [g["token_ids"] for g in methods["greedy"]["generations"]]
    penalised = [g["token_ids"] for g in methods["greedy_repetition_penalty_1.2"]["generations"]]
    assert plain != penalised
    # Greedy picks the most likely token: its log-probs are the highest of any method on average.
    greedy = [lp for g in methods["greedy"]["generations"] for lp in g["logprobs"]]
    pure = [lp for g in methods["pure_sampling"]["generations"] for lp in g["logprobs"]]
    assert sum(greedy) / len(greedy) > sum(pure) / len(pure)


@pytest.mark.slow
def test_same_seed_same_results_whatever_the_batch_size(tiny_run, tmp_path):
    out, _, script = tiny_run
    first = json.loads(out.read_text(encoding="utf-8"))
    again = tmp_path / "again.json"
    argv = ["--prompts", "3", "--max-new-tokens", "8", "--seed", "1", "--batch-size", "3",
            "--methods", "pure_sampling", "--out", str(again), "--no-progress"]
    second = script.main(argv)
    texts = [g["text"] for g in second["methods"]["pure_sampling"]["generations"]]
    assert texts == [g["text"] for g in first["methods"]["pure_sampling"]["generations"]]


@pytest.mark.slow
def test_progress_bar_and_table(tiny_run, capsys, tmp_path):
    _, _, script = tiny_run
    script.main(["--prompts", "1", "--max-new-tokens", "2", "--methods", "greedy", "--out", str(tmp_path / "r.json")])
    captured = capsys.readouterr()
    assert "tok" in captured.err and "100%" in captured.err  # tqdm's bar, finished
    assert "Greedy" in captured.out and "73.66" in captured.out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--prompts", "0"], "--prompts must be between 1 and"),
        (["--max-new-tokens", "0"], "--max-new-tokens must be at least 1"),
    ],
)
def test_bad_arguments(script, argv, message, capsys, tmp_path):
    with pytest.raises((SystemExit, ValueError)) as info:
        script.main(argv + ["--out", str(tmp_path / "r.json")])
    shown = str(info.value) + capsys.readouterr().err
    assert message in shown


def test_committed_results_file():
    results = json.loads(COMMITTED.read_text(encoding="utf-8"))
    config = results["config"]
    prompts = json.loads(PROMPTS.read_text(encoding="utf-8"))["prompts"]
    assert config["prompts"] == prompts[: len(config["prompts"])]
    check_results(
        results, n_prompts=len(config["prompts"]), max_new_tokens=config["max_new_tokens"],
        methods=load_script().METHODS,
    )
    m = {name: method["metrics"] for name, method in results["methods"].items()}
    # The paper's qualitative findings, which the lesson states from this file.
    assert m["greedy"]["repetition_pct"] > max(m[k]["repetition_pct"] for k in ("pure_sampling", "top_p_0.95"))
    assert m["greedy"]["perplexity"] < m["top_p_0.95"]["perplexity"] < m["pure_sampling"]["perplexity"]
    assert not math.isnan(m["greedy"]["perplexity"])


def test_replication_figure_draws_the_committed_numbers():
    from course_utils.plots import replication_figure

    results = json.loads(COMMITTED.read_text(encoding="utf-8"))
    names = list(results["methods"])
    metrics = [results["methods"][n]["metrics"] for n in names]
    paper = results["paper"]["table1"]
    figure = replication_figure(
        [results["methods"][n]["label"] for n in names],
        [m["repetition_pct"] for m in metrics],
        [m["perplexity"] for m in metrics],
        [m["distinct_2"] for m in metrics],
        [paper.get(n, {}).get("repetition_pct") for n in names],
        [paper.get(n, {}).get("perplexity") for n in names],
    )
    axes = figure.figure.axes
    widths = [[bar.get_width() for bar in ax.patches] for ax in axes]
    assert widths[0] == pytest.approx([m["repetition_pct"] for m in metrics])
    assert widths[1] == pytest.approx([m["perplexity"] for m in metrics])
    assert widths[2] == pytest.approx([m["distinct_2"] for m in metrics])
    # The paper's diamonds: one per method the paper measured.
    diamonds = [line for line in axes[1].lines if line.get_marker() == "D"]
    assert sorted(diamonds[0].get_xdata()) == sorted(
        paper[n]["perplexity"] for n in names if n in paper
    )
    assert [t.get_text() for t in axes[0].get_yticklabels()] == [results["methods"][n]["label"] for n in names]
    assert figure._repr_png_().startswith(b"\x89PNG")


def test_loop_probability_figure():
    from course_utils.plots import loop_probability_figure

    probs = [0.5, 0.4, 0.6, 0.7, 0.8, 0.9, 0.95, 0.97]
    figure = loop_probability_figure(probs, loop_start=2, period=2)
    ax = figure.figure.axes[0]
    assert list(ax.lines[0].get_ydata()) == probs
    assert len(ax.patches) == 3  # one band per repeat of the 2-token unit over 6 tokens
    assert "loop from step 3" in repr(figure)
    with pytest.raises(ValueError, match="loop_start"):
        loop_probability_figure(probs, loop_start=8)
    with pytest.raises(ValueError, match="probs"):
        loop_probability_figure([], loop_start=None)
