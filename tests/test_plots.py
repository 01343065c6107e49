"""Figure panels: labels, in-place updates read back from the artists, PNG output, blitting."""

import io

import numpy as np
import pytest
from PIL import Image

from course_utils import plots
from course_utils.plots import (
    OKABE_ITO,
    ROLE,
    BarPanel,
    CurvePanel,
    TokenTextPanel,
    figure_to_png,
    mark_dynamic,
    new_figure,
    token_label,
    visible,
)


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"))


def test_visible_whitespace():
    assert visible(" Paris") == "␣Paris"
    assert visible("a\nb\tc\r") == "a↵b⇥c␍"
    assert visible("␣done") == "␣done"  # idempotent on labels the model already made visible
    with pytest.raises(TypeError, match="needs a str"):
        visible(3)


def test_token_label_shortens_and_names_the_empty_token():
    assert token_label(" the") == "␣the"
    assert token_label("") == "∅"
    assert token_label("\r\n") == token_label("␍↵") == "\\r↵"  # the plots' font has no ␍
    assert token_label("x" * 30, max_chars=10) == "x" * 9 + "…"
    with pytest.raises(ValueError, match="max_chars"):
        token_label("a", max_chars=1)


def test_palette_is_okabe_ito():
    assert OKABE_ITO["blue"] == "#0072B2" and OKABE_ITO["vermillion"] == "#D55E00"
    assert ROLE["kept"] != ROLE["removed"] != ROLE["chosen"]


def test_new_figure_is_pyplot_free_and_sized_in_pixels():
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    figure = new_figure(400, 200)
    assert plt.get_fignums() == before  # never registered with pyplot, so never auto-displayed
    png = figure_to_png(figure)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert pixels(png).shape == (200, 400, 3)


def test_bar_panel_updates_in_place_and_reads_back():
    figure = new_figure(400, 300)
    panel = BarPanel(figure.add_axes([0.2, 0.1, 0.7, 0.8]), 5)
    bars_before = list(panel.bars)
    panel.update([0.5, 0.3, 0.2], ["␣a", "b", "c"], [ROLE["chosen"], ROLE["bar"], ROLE["bar"]])
    assert panel.bars == bars_before  # same artists, new heights
    assert panel.values == pytest.approx([0.5, 0.3, 0.2])
    assert panel.labels == ["␣a", "b", "c"]
    assert panel.colors == [ROLE["chosen"].lower(), ROLE["bar"].lower(), ROLE["bar"].lower()]
    assert panel.value_strings == ["50.0%", "30.0%", "20.0%"]
    assert [bar.get_visible() for bar in panel.bars] == [True, True, True, False, False]
    panel.update([0.9], texts=["removed"])
    assert panel.labels == ["␣a"] and panel.value_strings == ["removed"]


def test_bar_panel_tiny_values_and_errors():
    figure = new_figure(400, 300)
    panel = BarPanel(figure.add_axes([0.2, 0.1, 0.7, 0.8]), 3, horizontal=False)
    panel.update([0.0, 0.0004, 0.9996], ["a", "b", "c"])
    assert panel.value_strings == ["0%", "<0.1%", "100.0%"]
    with pytest.raises(ValueError, match="3 slots"):
        panel.update([0.1] * 4)
    with pytest.raises(ValueError, match="labels"):
        panel.update([0.1, 0.2], ["a"])
    with pytest.raises(ValueError, match="low < high"):
        panel.set_limits(1.0, 1.0)


def test_dynamic_labels_are_drawn_texts():
    figure = new_figure(400, 300)
    panel = BarPanel(figure.add_axes([0.2, 0.1, 0.7, 0.8]), 4, dynamic_labels=True)
    panel.update([0.6, 0.4], ["x", "↵"])
    assert [t.get_text() for t in panel.label_texts] == ["x", "↵", "", ""]
    with pytest.raises(ValueError, match="horizontal"):
        BarPanel(figure.add_axes([0.2, 0.1, 0.7, 0.8]), 2, horizontal=False, dynamic_labels=True)


def test_curve_panel_marks_the_current_value():
    figure = new_figure(300, 200)
    panel = CurvePanel(figure.add_axes([0.2, 0.2, 0.7, 0.7]), xlabel="T", ylabel="H", xlim=(0, 3), ylim=(0, 5))
    panel.set_curve([0, 1, 2, 3], [0, 1, 2, 3])
    panel.mark(1.5, 1.5)
    assert panel.marked_x == 1.5
    assert list(panel.marker_point.get_ydata()) == [1.5]
    assert list(panel.line.get_ydata()) == [0, 1, 2, 3]


def test_token_text_panel_shades_generated_tokens_and_wraps():
    figure = new_figure(300, 200)
    panel = TokenTextPanel(figure.add_axes([0, 0, 1, 1]), max_lines=3)
    tokens = ["Once upon a time"] + [" and then"] * 12 + ["\n", "end"]
    shades = [None] + [0.9] * 12 + [0.2, 0.5]
    panel.set_tokens(tokens, shades)
    boxes = [a for a in panel.ax.patches]
    assert len(boxes) <= 14  # the prompt is plain; only generated tokens get a shaded box
    lines = sorted({round(t.get_position()[1], 3) for t in panel.ax.texts})
    assert len(lines) <= 3  # older lines scrolled away
    assert any("↵" in t.get_text() for t in panel.ax.texts)
    dark, light = panel._cmap(0.15 + 0.75 * 0.9), panel._cmap(0.15 + 0.75 * 0.2)
    assert sum(light[:3]) > sum(dark[:3])
    with pytest.raises(ValueError, match="shades"):
        panel.set_tokens(["a"], [])


def test_blitting_matches_a_full_draw_and_redraws_the_background_when_needed():
    figure = new_figure(400, 300)
    ax = figure.add_axes([0.2, 0.15, 0.7, 0.75])
    panel = BarPanel(ax, 3)
    title = figure.text(0.01, 0.99, "", va="top")
    mark_dynamic(title)
    for values, labels, limit in [
        ([0.2, 0.3, 0.5], ["a", "b", "c"], 1.0),
        ([0.6, 0.3, 0.1], None, 1.0),  # dynamic change only: background reused
        ([0.6, 0.3, 0.1], ["x", "y", "z"], 1.0),  # tick labels changed: background redrawn
        ([0.1, 0.05, 0.01], None, 0.2),  # limits changed: background redrawn
    ]:
        panel.set_limits(0.0, limit)
        panel.update(values, labels)
        title.set_text(f"top {values[0]:.0%}")
        fast = pixels(figure_to_png(figure))
        assert np.array_equal(fast, pixels(figure_to_png(figure, full=True)))


def test_background_is_reused_when_only_dynamic_artists_change(monkeypatch):
    figure = new_figure(300, 200)
    panel = BarPanel(figure.add_axes([0.2, 0.15, 0.7, 0.75]), 3)
    panel.update([0.2, 0.3, 0.5], ["a", "b", "c"])
    figure_to_png(figure)
    draws = []
    original = figure.canvas.draw
    monkeypatch.setattr(figure.canvas, "draw", lambda: (draws.append(1), original())[1])
    panel.update([0.5, 0.3, 0.2])
    figure_to_png(figure)
    assert draws == []
    panel.update([0.5, 0.3, 0.2], ["c", "b", "a"])
    figure_to_png(figure)
    assert draws == [1]


def test_mark_dynamic_needs_a_figure():
    from matplotlib.lines import Line2D

    with pytest.raises(ValueError, match="added to a figure"):
        mark_dynamic(Line2D([0], [0]))


def test_dpi_is_modest():
    assert 60 <= plots.DPI <= 100


def test_logit_histogram_figure_counts_every_token_and_states_the_takeaway():
    from course_utils.plots import StaticFigure, logit_histogram_figure

    rng = np.random.default_rng(0)
    logits = np.append(rng.normal(-2.0, 4.0, size=999), 25.0)  # a hump and one far-off top token
    shown = logit_histogram_figure(logits, bins=40, top_label="␣Paris")
    assert isinstance(shown, StaticFigure)
    assert repr(shown) == "logit_histogram_figure(1,000 logits in 40 bins)"
    ax = shown.figure.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    assert len(heights) == 40 and sum(heights) == logits.size
    assert heights[-1] == 1  # the top token sits alone in the last bin
    assert ax.get_xlabel() == "logit" and "number of tokens" in ax.get_ylabel()
    assert ax.get_yscale() == "log"
    assert shown.figure._suptitle.get_text().startswith("Almost all of the 1,000 logits")
    (marker,) = ax.lines
    assert list(marker.get_xdata()) == [25.0, 25.0]
    assert any("␣Paris" in t.get_text() for t in ax.texts)
    assert shown._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    titled = logit_histogram_figure(logits, title="custom")
    assert titled.figure._suptitle.get_text() == "custom"


def test_logit_histogram_figure_rejects_bad_input():
    from course_utils.plots import logit_histogram_figure

    with pytest.raises(ValueError, match="1-D"):
        logit_histogram_figure(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="finite"):
        logit_histogram_figure([1.0, -np.inf])
    with pytest.raises(ValueError, match="bins"):
        logit_histogram_figure([1.0, 2.0], bins=0)


def test_a_punctuation_token_is_quoted_so_it_is_not_a_speck_beside_its_bar():
    from course_utils.plots import token_label

    assert [token_label(t) for t in (",", ".", "),", " ,", "Paris", "...")] == ["','", "'.'", "'),'", "␣,", "Paris", "..."]


def test_a_value_near_the_end_of_the_axis_is_written_inside_its_bar():
    from course_utils.plots import BarPanel, new_figure

    figure = new_figure(400, 200)
    panel = BarPanel(figure.add_axes([0.2, 0.2, 0.7, 0.7]), 3)
    panel.update([1.0, 0.5, 0.0], ["a", "b", "c"])
    full, half = panel.value_texts[0], panel.value_texts[1]
    assert full.get_text() == "100.0%" and full.get_horizontalalignment() == "right" and full.get_position()[0] < 1.0
    assert half.get_horizontalalignment() == "left" and half.get_position()[0] > 0.5
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    assert full.get_window_extent(renderer).x1 <= panel.ax.get_window_extent(renderer).x1
