"""What lesson 08 shows beyond its explorer and exercises: its three figures and its In the wild table."""

import pytest

from course_utils import ecosystem
from course_utils.plots import high_temperature_figure, kept_over_temperature_figure, surprise_figure


def test_the_figures_describe_themselves_without_numbers_noise_can_reach():
    kept = kept_over_temperature_figure((1.0, 2.0), {"top-p 0.9": [700, 10_000], "top-nσ 1.0": [100, 100]}, 49_152)
    assert repr(kept) == "kept_over_temperature_figure(top-p 0.9, top-nσ 1.0 at T = 1, 2)"
    assert kept._repr_png_()[:4] == b"\x89PNG"
    surprise = surprise_figure({"plain": [1.0, 3.0, 2.0], "mirostat 2": [1.5, 1.0, 1.4]}, 1.5)
    assert repr(surprise) == "surprise_figure(plain, mirostat 2; tau = 1.5)"
    cells = [{"label": m, "temperature": t, "perplexity": p, "distinct_2": d}
             for m, t, p, d in (("a", 1.0, 3.0, 0.7), ("a", 2.0, 30.0, 0.9), ("b", 1.0, 5.0, 0.8))]
    figure = high_temperature_figure(cells)
    assert repr(figure) == "high_temperature_figure(2 methods at T = 1, 2)"
    assert figure._repr_png_()[:4] == b"\x89PNG"


def test_the_figures_refuse_what_they_cannot_draw():
    with pytest.raises(ValueError, match="has 1 values for 2 temperatures"):
        kept_over_temperature_figure((1.0, 2.0), {"top-p": [5]}, 10)
    with pytest.raises(ValueError, match="at least one series"):
        surprise_figure({}, 1.0)
    with pytest.raises(ValueError, match="cells is empty"):
        high_temperature_figure([])


def test_the_samplers_table_names_what_each_record_names():
    table = ecosystem.samplers_table_markdown()
    rows = {line.split(" | ")[0].strip("| "): line.split(" | ")[1:] for line in table.splitlines()[2:]}
    assert list(rows) == list(ecosystem.SAMPLERS)
    for dial, cells in rows.items():
        for library, cell in zip(ecosystem.SAMPLER_LIBRARIES, cells):
            fact = ecosystem.SAMPLERS[dial][library]
            assert (cell.strip(" |") == "—") == fact.startswith("not offered"), (dial, library)
    assert "`typ_p`" in rows["typical_p"][1] and "`dry_sequence_breakers`" in rows["dry"][2]
    assert "commit" not in table and "tests/" not in table


def test_the_min_p_debate_keeps_its_sources_in_the_record_only():
    for fact in ecosystem.MIN_P_DEBATE.values():
        assert "arXiv:" in fact and "arXiv:" not in ecosystem.learner_text(fact)
