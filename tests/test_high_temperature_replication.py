"""Lesson 08's small study at high temperature: the script on a tiny run, and its committed results."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from course_utils.degeneration import loop_at_end, perplexity
from course_utils.reproducibility import required_margin

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "replicate_high_temperature.py"
COMMITTED = REPO / "data" / "high_temperature_replication.json"
METRICS = ("repetition_pct", "perplexity", "distinct_2", "self_bleu_4", "mean_new_tokens", "eos_pct")


def load_script():
    sys.path.insert(0, str(SCRIPT.parent))
    spec = importlib.util.spec_from_file_location("replicate_high_temperature", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def committed():
    return json.loads(COMMITTED.read_text(encoding="utf-8"))


def test_a_tiny_run_writes_every_cell_with_the_settings_it_names(tmp_path):
    script = load_script()
    out = tmp_path / "results.json"
    argv = ["--prompts", "2", "--max-new-tokens", "6", "--temperatures", "1", "2", "--methods", "top_p_0.9",
            "top_n_sigma_1.0", "--out", str(out), "--no-progress"]
    with required_margin(0):
        returned = script.main(argv)
    written = json.loads(out.read_text(encoding="utf-8"))
    assert written == json.loads(json.dumps(returned))
    assert written["command"] == "python scripts/replicate_high_temperature.py " + " ".join(argv)
    assert list(written["cells"]) == ["top_p_0.9@1", "top_n_sigma_1.0@1", "top_p_0.9@2", "top_n_sigma_1.0@2"]
    assert written["cells"]["top_n_sigma_1.0@2"]["settings"] == {"temperature": 2.0, "top_n_sigma": 1.0}
    for cell in written["cells"].values():
        assert set(cell["metrics"]) == set(METRICS) and len(cell["generations"]) == 2


def test_the_committed_study_has_every_method_at_every_temperature(committed):
    script = load_script()
    assert committed["command"].startswith("python scripts/replicate_high_temperature.py --prompts 12 --max-new-tokens 100")
    assert committed["config"]["temperatures"] == [1.0, 1.5, 2.0, 3.0] and len(committed["config"]["prompts"]) == 12
    expected = [f"{m}@{t:g}" for t in (1.0, 1.5, 2.0, 3.0) for m in script.METHODS]
    assert list(committed["cells"]) == expected
    assert set(committed["sources"]) == {"min_p", "critique"}
    assert committed["timing"]["seconds"] < 15 * 60  # the brief's cap on 2 shared cores


def test_the_committed_metrics_are_those_of_the_committed_generations(committed):
    for cell in committed["cells"].values():
        generations = cell["generations"]
        assert len(generations) == 12
        logprobs = [lp for g in generations for lp in g["logprobs"]]
        assert cell["metrics"]["perplexity"] == pytest.approx(perplexity(logprobs), rel=1e-3)
        loops = sum(loop_at_end(g["token_ids"]) is not None for g in generations)
        assert cell["metrics"]["repetition_pct"] == pytest.approx(100 * loops / 12)
        assert all(len(g["token_ids"]) <= 100 for g in generations)


def test_the_study_shows_what_lesson_08_says_it_shows(committed):
    ppl = {key: cell["metrics"]["perplexity"] for key, cell in committed["cells"].items()}
    # top-p and η run away with the temperature; top-nσ, whose kept set never grows, moves least.
    for t in ("1.5", "2", "3"):
        assert ppl[f"top_p_0.9@{t}"] > 100 * ppl[f"min_p_0.1@{t}"] / (10 if t == "3" else 1)
        assert ppl[f"eta_0.002@{t}"] > 100 * ppl[f"top_n_sigma_1.0@{t}"]
    growth = {m: ppl[f"{m}@3"] / ppl[f"{m}@1"] for m in ("top_p_0.9", "eta_0.002", "min_p_0.1", "top_n_sigma_1.0")}
    assert growth["top_n_sigma_1.0"] < growth["min_p_0.1"] < growth["top_p_0.9"]
