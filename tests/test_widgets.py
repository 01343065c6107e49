"""Explorers, driven without a browser: set controls, assert what the figure shows.

Most tests use a tiny fake model (16 tokens, deterministic logits) so they run in milliseconds;
one test per explorer uses the course's real model. The last tests are the measurements behind
the display design in docs/display-design.md: an explorer cell passes strict
nbval where an ``interact`` cell does not, and nbconvert's HTML shows the explorer's picture.
"""

import base64
import html
import io
import json
import subprocess
import sys

import ipywidgets
import numpy as np
import pytest
from PIL import Image

from course_utils import sampling
from course_utils import widgets as w
from course_utils.widgets import base
from course_utils.plots import ROLE, figure_to_png


class FakeModel:
    """A 16-token stand-in for the course model, with the same interface the explorers use."""

    vocab = [" the", " a", "\n", " Paris", "Rome", " cat", " dog", "", " big", " small", " red", " blue",
             " x x", "\t", "<end>", "?"]
    vocab_size = len(vocab)
    eos_ids = frozenset({14})

    def __init__(self):
        self.calls = 0

    def encode(self, text):
        return [len(word) % self.vocab_size for word in text.split()] or [0]

    def decode(self, ids):
        return "".join(self.vocab[i] for i in ids)

    def token_text(self, token_id):
        return self.vocab[token_id].replace(" ", "␣")

    def next_token_logits(self, ids):
        self.calls += 1
        rng = np.random.default_rng(sum(ids) + 7 * len(ids))
        logits = 3 * rng.standard_normal(self.vocab_size)
        logits[14] -= 4.0  # the end-of-text token: possible, but rare
        return logits.astype(np.float32)


@pytest.fixture
def fake():
    return FakeModel()


def png_size(png: bytes):
    return Image.open(io.BytesIO(png)).size


def assert_displays_well(explorer):
    """One display bundle: the live widget, a PNG of the current state, and stable text."""
    data, metadata = explorer._repr_mimebundle_()
    assert set(data) == {"text/plain", "image/png", "application/vnd.jupyter.widget-view+json"}
    assert data["application/vnd.jupyter.widget-view+json"]["model_id"] == explorer.widget.model_id
    png = base64.b64decode(data["image/png"])
    assert png == explorer.png and png[:4] == b"\x89PNG"
    assert metadata["image/png"]["width"] == png_size(png)[0]
    text = data["text/plain"]
    assert text == repr(explorer) and text.startswith(type(explorer).__name__ + "(")
    assert "0x" not in text and "model" not in text.lower()
    assert bytes(explorer.image.value) == explorer.png
    assert explorer.readout_text and explorer.readout_text in html.unescape(explorer.readout.value)
    # Legible on a laptop (docs/display-design.md): the browser suite measures the CSS pixels; here,
    # the PNG says how large its smallest text is, and it is 9 pt (10 px at the explorers' 80 dpi).
    assert float(Image.open(io.BytesIO(png)).text["dd-min-text-px"]) >= 10.0 - 1e-9


def assert_blit_is_exact(explorer):
    """The fast (blitted) picture is pixel-identical to a full redraw of the same figure."""
    fast = np.asarray(Image.open(io.BytesIO(explorer.png)).convert("RGB"))
    full = np.asarray(Image.open(io.BytesIO(figure_to_png(explorer.figure, full=True))).convert("RGB"))
    assert np.array_equal(fast, full)


# -- the Explorer base ---------------------------------------------------------------------------


def test_set_redraws_once_for_several_values(fake, monkeypatch):
    explorer = w.TruncationExplorer(fake)
    renders = []
    original = base.figure_to_png
    monkeypatch.setattr(base, "figure_to_png", lambda fig, **kw: (renders.append(1), original(fig, **kw))[1])
    assert explorer.set(mode="top_k", top_k=3, temperature=0.5) is explorer
    assert len(renders) == 1
    explorer.controls["top_k"].value = 4  # a slider move from the browser: one redraw
    assert len(renders) == 2


def test_set_rejects_unknown_controls_and_values_out_of_range(fake):
    explorer = w.TemperatureExplorer(fake)
    with pytest.raises(ValueError, match="no control named 'temp'.*temperature, prompt"):
        explorer.set(temp=0.5)
    with pytest.raises(ValueError, match="temperature=0.52 is not one of the choices"):
        explorer.set(temperature=0.52)
    truncation = w.TruncationExplorer(fake)
    with pytest.raises(ValueError, match=r"top_p=1.5 is outside the slider's range \[0.05, 1.0\]"):
        truncation.set(top_p=1.5)
    with pytest.raises(ValueError, match="is not a stop on the temperature slider"):
        w.TemperatureExplorer(fake, temperature=0.52)


def test_controls_are_readable_and_keyboard_operable(fake):
    for explorer in (w.TemperatureExplorer(fake), w.TruncationExplorer(fake), w.SoftmaxExplorer(temperature=1.0)):
        for control in explorer.controls.values():
            assert control.style.description_width == "initial"
            assert control.description
            assert not control.disabled
    sliders = [c for c in w.TemperatureExplorer(fake).controls.values() if isinstance(c, ipywidgets.SelectionSlider)]
    assert sliders and all(s.continuous_update for s in sliders)


def all_explorers(model):
    return [
        w.TopTokensExplorer(model), w.SoftmaxExplorer(), w.TemperatureExplorer(model, temperature=0.7),
        w.TruncationExplorer(model), w.ChainOrderExplorer(model), w.GenerationStepper(model, steps=2),
    ]


def main_controls(explorer):
    return [name for name, c in explorer.controls.items() if "dd-main-control" in c._dom_classes]


def drawn_for(explorer):
    return Image.open(io.BytesIO(explorer.png)).text["dd-main"]


def test_browser_hooks_mark_root_figure_and_one_main_slider(fake):
    expected = {
        "TopTokensExplorer": ("n_tokens", "10"), "SoftmaxExplorer": ("logit_0", "+4.00"),
        "TemperatureExplorer": ("temperature", "0.70"), "TruncationExplorer": ("top_p", "0.90"),
        "ChainOrderExplorer": ("temperature", "2.00"), "GenerationStepper": ("temperature", "1.00"),
    }
    for explorer in all_explorers(fake):
        assert "dd-explorer" in explorer.widget._dom_classes
        assert "dd-figure" in explorer.image._dom_classes
        name, shown = expected[type(explorer).__name__]
        assert main_controls(explorer) == [name]
        assert drawn_for(explorer) == shown
        assert isinstance(explorer.controls[name], (ipywidgets.IntSlider, ipywidgets.FloatSlider,
                                                    ipywidgets.SelectionSlider))


def test_every_png_says_which_value_it_was_drawn_for(fake):
    explorer = w.TemperatureExplorer(fake)
    explorer.controls["temperature"].value = 0.05
    assert drawn_for(explorer) == "0.05" == explorer.controls["temperature"].label
    truncation = w.TruncationExplorer(fake)
    truncation.set(mode="min_p", min_p=0.25)
    assert main_controls(truncation) == ["min_p"] and drawn_for(truncation) == "0.25"
    truncation.set(mode="top_k", top_k=7)
    assert main_controls(truncation) == ["top_k"] and drawn_for(truncation) == "7"


def test_temperature_stops_are_fine_near_zero():
    stops = np.array(w.TEMPERATURES)
    assert stops[0] == 0 and stops[-1] == 3 and 1.0 in stops and 0.7 in stops
    assert np.all(np.diff(stops) > 0)
    assert np.diff(stops[stops <= 0.1]).max() <= 0.03
    assert len(stops) >= 40


def test_bad_model_and_prompt_are_explained():
    with pytest.raises(TypeError, match="load_model"):
        w.TemperatureExplorer(object())
    with pytest.raises(ValueError, match="prompt must be a non-empty string"):
        w.TemperatureExplorer(FakeModel(), prompt="  ")


def test_an_emptied_prompt_box_asks_for_text(fake):
    explorer = w.TopTokensExplorer(fake)
    explorer.set(prompt="")
    assert explorer.readout_text == "Type a prompt in the box and press Enter."


# -- lesson 01 -----------------------------------------------------------------------------------


def test_top_tokens_shows_the_ranked_probabilities(fake):
    explorer = w.TopTokensExplorer(fake, prompt="The capital of France is", n_tokens=5)
    assert_displays_well(explorer)
    logits = fake.next_token_logits(fake.encode("The capital of France is")).astype(float)
    probs = sampling.softmax(logits)
    top = np.argsort(-logits, kind="stable")[:5]
    assert explorer.bars.values == pytest.approx(probs[top])
    assert explorer.bars.labels == [fake.token_text(int(i)) or "∅" for i in top]
    explorer.set(scale="logit", n_tokens=3)
    assert explorer.bars.values == pytest.approx(logits[top[:3]])
    assert explorer.bars.value_strings == [f"{v:.2f}" for v in logits[top[:3]]]
    assert "logit" in explorer.bars.ax.get_xlabel()
    assert_blit_is_exact(explorer)


def test_top_tokens_labels_show_whitespace(fake):
    explorer = w.TopTokensExplorer(fake, n_tokens=16)
    labels = explorer.bars.labels
    assert "↵" in labels and "⇥" in labels and "∅" in labels and "␣Paris" in labels


def test_top_tokens_dropdown_fills_the_prompt(fake):
    explorer = w.TopTokensExplorer(fake)
    explorer.prompt_menu.value = w.GOOD_PROMPTS[2]
    assert explorer.values["prompt"] == w.GOOD_PROMPTS[2]
    assert w.GOOD_PROMPTS[2][:20] in explorer.title.get_text()
    explorer.set(prompt="my own words")
    assert explorer.prompt_menu.value is None


def test_top_tokens_real_model(model):
    explorer = w.TopTokensExplorer(model, prompt="The capital of France is")
    assert explorer.bars.labels[0] == "␣Paris"
    assert explorer.readout_text.startswith("top token ␣Paris p = ")
    assert repr(explorer) == "TopTokensExplorer(prompt='The capital of France is', n_tokens=10, scale='probability')"


# -- lesson 02 -----------------------------------------------------------------------------------


def test_softmax_explorer_bars_follow_the_sliders():
    explorer = w.SoftmaxExplorer(tokens=["A", "B", "C"], logits=[2.0, 1.0, 0.1])
    assert_displays_well(explorer)
    assert repr(explorer) == "SoftmaxExplorer(logit_0=2, logit_1=1, logit_2=0.1)"
    assert explorer.bars.values == pytest.approx(sampling.softmax(np.array([2.0, 1.0, 0.1])))
    assert explorer.bars.colors[0] == ROLE["chosen"].lower()
    explorer.set(logit_2=3.0)
    assert explorer.bars.values == pytest.approx(sampling.softmax(np.array([2.0, 1.0, 3.0])))
    assert explorer.bars.colors == [ROLE["bar"].lower(), ROLE["bar"].lower(), ROLE["chosen"].lower()]
    assert explorer.logit_bars.values == pytest.approx([2.0, 1.0, 3.0])
    assert explorer.readout_text.endswith("sum 1.000")
    assert_blit_is_exact(explorer)


def test_softmax_explorer_temperature_and_ties():
    explorer = w.SoftmaxExplorer(tokens=["a", "b", "c", "d"], logits=[1.0, 1.0, 1.0, 1.0], temperature=0.5)
    assert explorer.bars.values == pytest.approx([0.25] * 4)
    explorer.set(logit_0=2.0, temperature=2.0)
    assert explorer.bars.values == pytest.approx(sampling.softmax(np.array([2.0, 1, 1, 1]), temperature=2.0))
    assert "at T = 2" in explorer.subtitle.get_text()


def test_softmax_explorer_checks_its_arguments():
    with pytest.raises(ValueError, match="2 to 8 tokens"):
        w.SoftmaxExplorer(tokens=["a"], logits=[1.0])
    with pytest.raises(ValueError, match="one number per token"):
        w.SoftmaxExplorer(tokens=["a", "b"], logits=[1.0])
    with pytest.raises(ValueError, match="outside logit_range"):
        w.SoftmaxExplorer(tokens=["a", "b"], logits=[1.0, 9.0])


# -- lesson 03 -----------------------------------------------------------------------------------


def test_temperature_explorer_shows_the_tempered_distribution(fake):
    explorer = w.TemperatureExplorer(fake, temperature=1.0, n_tokens=5)
    assert_displays_well(explorer)
    logits = fake.next_token_logits(fake.encode(w.GOOD_PROMPTS[0])).astype(float)
    top = np.argsort(-logits, kind="stable")[:5]
    for t in (0.5, 2.0, 0.01):
        explorer.set(temperature=t)
        probs = sampling.softmax(logits, temperature=t)
        assert explorer.bars.values[:5] == pytest.approx(probs[top])
        assert explorer.bars.values[5] == pytest.approx(1 - probs[top].sum(), abs=1e-12)
        assert explorer.bars.labels[5] == "(other 11)"
        h = sampling.entropy(probs)
        assert f"entropy {h:.2f} bits" in explorer.readout_text
        assert f"2^H = {2 ** h:,.1f}" in explorer.readout_text
        assert f"{probs.max():.1%}" in explorer.readout_text
        assert explorer.entropy_curve.marked_x == t and explorer.top_curve.marked_x == t
        assert_blit_is_exact(explorer)
    explorer.set(temperature=0.0)
    assert explorer.bars.values[0] == 1.0
    assert "greedy" in explorer.title.get_text()


def test_temperature_moves_never_run_the_model(fake):
    explorer = w.TemperatureExplorer(fake)
    calls = fake.calls
    for t in (0.1, 0.5, 1.5, 3.0):
        explorer.set(temperature=t)
    assert fake.calls == calls
    explorer.set(prompt="another prompt here")
    assert fake.calls == calls + 1


def test_temperature_curves_span_the_slider(fake):
    explorer = w.TemperatureExplorer(fake)
    x, y = explorer.entropy_curve.line.get_data()
    assert list(x) == list(w.TEMPERATURES)
    assert y[0] == pytest.approx(0.0, abs=1e-9) and np.all(np.diff(y) >= -1e-9)  # entropy grows with T


def test_temperature_real_model(model):
    explorer = w.TemperatureExplorer(model, prompt="The capital of France is", temperature=0.5)
    logits = np.asarray(model.next_token_logits(model.encode("The capital of France is")), dtype=float)
    probs = sampling.softmax(logits, temperature=0.5)
    assert explorer.bars.labels[0] == "␣Paris"
    assert explorer.bars.values[0] == pytest.approx(probs.max())
    assert explorer.bars.labels[-1] == f"(other {model.vocab_size - 10:,})"


# -- lesson 04 -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "mode, dial, settings",
    [("top_k", 4, {"top_k": 4}), ("top_p", 0.6, {"top_p": 0.6}), ("min_p", 0.3, {"min_p": 0.3})],
)
def test_truncation_highlights_exactly_the_kept_tokens(fake, mode, dial, settings):
    explorer = w.TruncationExplorer(fake, mode=mode, temperature=0.7, n_tokens=16, **{mode: dial})
    assert_displays_well(explorer)
    logits = fake.next_token_logits(fake.encode(w.GOOD_PROMPTS[1])).astype(float)
    top = np.argsort(-logits, kind="stable")
    final = sampling.next_token_distribution(logits, temperature=0.7, **settings)
    kept = final[top] > 0
    assert explorer.bars.colors == [ROLE["kept"].lower() if k else ROLE["removed"].lower() for k in kept]
    assert explorer.bars.values == pytest.approx(sampling.softmax(logits, temperature=0.7)[top])
    mass = sampling.softmax(logits, temperature=0.7)[final > 0].sum()
    assert f"kept {kept.sum()} of 16 tokens" in explorer.readout_text
    assert f"kept mass {mass:.1%}" in explorer.readout_text
    assert explorer.controls[mode].layout.display is None
    assert all(explorer.controls[m].layout.display == "none" for m in ("top_k", "top_p", "min_p") if m != mode)
    assert_blit_is_exact(explorer)


def test_truncation_lines_follow_the_dials(fake):
    explorer = w.TruncationExplorer(fake, mode="top_p", top_p=0.7, n_tokens=16)
    assert explorer.p_line.get_visible() and list(explorer.p_line.get_ydata()) == [0.7, 0.7]
    cumulative = np.nansum(np.vstack([explorer.kept_curve.get_ydata(), explorer.removed_curve.get_ydata()]), axis=0)
    assert cumulative[-1] == pytest.approx(1.0)
    explorer.set(mode="top_k", top_k=3)
    assert not explorer.p_line.get_visible() and explorer.k_line.get_visible()
    assert list(explorer.k_line.get_xdata()) == [2.5, 2.5]
    assert explorer.bars.colors.count(ROLE["kept"].lower()) == 3
    explorer.set(mode="min_p", min_p=0.5)
    assert explorer.min_p_line.get_ydata()[0] == pytest.approx(0.5 * explorer.bars.values[0])


def test_truncation_real_model(model):
    explorer = w.TruncationExplorer(model, prompt="The capital of France is", mode="top_k", top_k=5)
    assert explorer.bars.colors[:6] == [ROLE["kept"].lower()] * 5 + [ROLE["removed"].lower()]
    assert "kept 5 of 49,152 tokens" in explorer.readout_text


def test_chain_order_agrees_at_t1_and_differs_when_hot(fake):
    explorer = w.ChainOrderExplorer(fake, temperature=1.0, top_p=0.6)
    assert_displays_well(explorer)
    assert explorer.readout_text.endswith("kept by only one of them: 0")
    assert explorer.panels["transformers"].values == pytest.approx(explorer.panels["llama.cpp"].values, abs=1e-12)
    explorer.set(temperature=2.5)
    logits = fake.next_token_logits(fake.encode(w.GOOD_PROMPTS[1])).astype(float)
    for order in sampling.ORDERS:
        final = sampling.next_token_distribution(logits, temperature=2.5, top_p=0.6, order=order)
        top = np.argsort(-logits, kind="stable")[:12]
        panel = explorer.panels[order]
        assert panel.values == pytest.approx(final[top])
        assert [s == "removed" for s in panel.value_strings] == list(final[top] == 0)
        assert f"{order} keeps {(final > 0).sum()} tokens" in explorer.readout_text
    assert "different tokens" in explorer.title.get_text()
    assert_blit_is_exact(explorer)


def test_chain_order_real_model(model):
    explorer = w.ChainOrderExplorer(model, prompt="Once upon a time, there was a", temperature=2.0, top_p=0.9)
    counts = [int(s.split()[0]) for s in explorer.readout_text.replace(",", "").split("keeps ")[1:]]
    assert counts[0] > counts[1]  # temperature first flattens the distribution: top-p keeps more


# -- lesson 05 -----------------------------------------------------------------------------------


def manual_run(model, prompt, n, seed, **settings):
    rng = np.random.default_rng(seed)
    ids, out = list(model.encode(prompt)), []
    for _ in range(n):
        token = sampling.sample_next_token(model.next_token_logits(ids), rng=rng, **settings)
        out.append(token)
        ids.append(token)
        if token in model.eos_ids:
            break
    return out


def test_stepper_draws_like_a_seeded_loop_and_highlights_the_choice(fake):
    stepper = w.GenerationStepper(fake, prompt="hello world", temperature=0.7, top_p=0.9, seed=3)
    assert_displays_well(stepper)
    assert stepper.tokens == [] and "press 'next token'" in stepper.title.get_text()
    stepper.step(3)
    expected = manual_run(fake, "hello world", 3, 3, temperature=0.7, top_p=0.9)
    assert [t.token_id for t in stepper.tokens] == expected
    last = stepper.tokens[-1]
    colors = stepper.bars.colors
    assert colors[last.rank] == ROLE["chosen"].lower()  # bars are in rank order
    assert colors.count(ROLE["chosen"].lower()) == 1
    assert stepper.bars.values[last.rank] == pytest.approx(last.prob)
    assert f"step 3 · drew {stepper.label(last.token_id)}" in stepper.readout_text
    shaded = [p for p in stepper.text_panel.shades if p is not None]
    assert shaded == pytest.approx([t.prob for t in stepper.tokens])
    assert_blit_is_exact(stepper)


def test_stepper_dials_preview_the_next_draw_and_seed_restarts(fake):
    stepper = w.GenerationStepper(fake, prompt="hello world", seed=1, steps=2)
    stepper.set(temperature=0.3)
    assert stepper.readout_text.startswith("next token:")
    assert len(stepper.tokens) == 2
    stepper.set(seed=2)
    assert stepper.tokens == []
    stepper.step(2)
    assert [t.token_id for t in stepper.tokens] == manual_run(fake, "hello world", 2, 2, temperature=0.3)
    stepper.reset()
    assert stepper.tokens == [] and stepper.text == "hello world"
    stepper.next_button.click()
    assert len(stepper.tokens) == 1
    stepper.set(prompt="")
    stepper.next_button.click()
    assert stepper.readout_text == "Type a prompt in the box and press Enter."
    stepper.close()
    assert stepper.widget.comm is None and stepper.image.comm is None


def test_stepper_stops_at_end_of_text(fake):
    for seed in range(200):
        run = manual_run(fake, "a", 40, seed)
        if run[-1] in fake.eos_ids:
            break
    stepper = w.GenerationStepper(fake, prompt="a", seed=seed)
    stepper.step(40)
    assert stepper.finished and len(stepper.tokens) == len(run)
    assert "ended the text" in stepper.title.get_text()
    assert not stepper.text.endswith("<end>")
    stepper.step()
    assert len(stepper.tokens) == len(run)
    with pytest.raises(ValueError, match="n must be a whole number >= 1"):
        stepper.step(0)


def test_stepper_real_model_matches_generate(model):
    from course_utils.generation import generate

    settings = dict(temperature=0.8, top_k=0, top_p=0.9, min_p=0.0)
    stepper = w.GenerationStepper(model, prompt="Once upon a time", seed=7, steps=6, **settings)
    reference = generate(model, "Once upon a time", max_new_tokens=6, seed=7, **settings)
    assert stepper.tokens == reference.steps  # the same central step, record for record
    assert stepper.text == "Once upon a time" + reference.text


# -- the display design, measured ---------------------------------------------------------------

EXPLORER_CELL = """\
from course_utils.widgets import SoftmaxExplorer
SoftmaxExplorer(tokens=["A", "B", "C"], logits=[2.0, 1.0, 0.1], temperature=0.7)"""

INTERACT_CELL = """\
import numpy as np
import matplotlib.pyplot as plt
from ipywidgets import interact
def show(t=0.7):
    plt.bar(range(3), np.exp(np.array([2.0, 1.0, 0.1]) / t))
    plt.show()
interact(show, t=(0.1, 3.0, 0.1));"""


def run_notebook(path, source):
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source)]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    nbformat.write(notebook, path)
    return notebook


def strict_nbval(path):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval", "--nbval-current-env", str(path)],
        capture_output=True, text=True, cwd=path.parent, timeout=300,
    )


@pytest.mark.slow
def test_explorer_cell_passes_strict_nbval_and_interact_does_not(tmp_path):
    explorer_nb = tmp_path / "explorer.ipynb"
    notebook = run_notebook(explorer_nb, EXPLORER_CELL)
    outputs = notebook.cells[0].outputs
    assert len(outputs) == 1  # nothing displayed as a side effect
    assert set(outputs[0].data) == {"text/plain", "image/png", "application/vnd.jupyter.widget-view+json"}
    assert outputs[0].data["text/plain"] == "SoftmaxExplorer(logit_0=2, logit_1=1, logit_2=0.1, temperature=0.7)"
    result = strict_nbval(explorer_nb)
    assert result.returncode == 0, result.stdout[-3000:]

    interact_nb = tmp_path / "interact.ipynb"
    run_notebook(interact_nb, INTERACT_CELL)
    result = strict_nbval(interact_nb)
    assert result.returncode != 0 and "Cell outputs differ" in result.stdout


@pytest.mark.slow
def test_nbconvert_html_shows_the_explorer_picture_without_widget_state(tmp_path):
    from nbconvert import HTMLExporter

    notebook = run_notebook(tmp_path / "explorer.ipynb", EXPLORER_CELL)
    notebook.metadata.pop("widgets", None)  # what an offline export does: no widget JavaScript
    body, _ = HTMLExporter().from_notebook_node(notebook)
    png = json.loads(json.dumps(notebook.cells[0].outputs[0].data["image/png"]))
    assert f"data:image/png;base64,{png}" in body.replace("\n", "")


def test_the_png_names_the_value_shown_even_when_the_slider_starts_at_its_first_stop(fake):
    # ipywidgets leaves a SelectionSlider's label empty when it is built at its first option; the
    # browser tests read this chunk to know which value a picture was drawn for.
    explorer = w.TemperatureExplorer(fake, temperature=0.0)
    assert Image.open(io.BytesIO(explorer.png)).text["dd-main"] == "0.00"
    explorer.set(temperature=0.5)
    assert Image.open(io.BytesIO(explorer.png)).text["dd-main"] == "0.50"



# -- lesson 08: the sampler zoo ---------------------------------------------------------------------


@pytest.mark.parametrize("sampler, value", [
    ("top_p", 0.6), ("min_p", 0.2), ("top_n_sigma", 0.8), ("typical_p", 0.5), ("eta_cutoff", 0.01),
    ("epsilon_cutoff", 0.01), ("xtc_threshold", 0.05),
])
def test_zoo_colours_exactly_the_kept_tokens_and_draws_the_cut(fake, sampler, value):
    explorer = w.SamplerZooExplorer(fake, sampler=sampler, temperature=1.5, n_tokens=16, **{sampler: value})
    assert_displays_well(explorer)
    logits = fake.next_token_logits(fake.encode(w.GOOD_PROMPTS[1])).astype(float)
    top = np.argsort(-logits, kind="stable")
    settings = {"xtc_probability": 1.0, "xtc_threshold": value} if sampler == "xtc_threshold" else {sampler: value}
    final = sampling.next_token_distribution(logits, temperature=1.5, **settings)[top]
    assert explorer.bars.values == pytest.approx(final)
    assert explorer.bars.colors == [ROLE["kept"].lower() if p > 0 else ROLE["removed"].lower() for p in final]
    kept = np.flatnonzero(final > 0)
    assert f"kept {kept.size} of 16 tokens" in explorer.readout_text
    assert explorer.first_cut.get_visible() == (kept[0] > 0)
    if kept[0] > 0:
        assert list(explorer.first_cut.get_xdata()) == [kept[0] + 0.5] * 2
    if kept[-1] < 15:
        assert list(explorer.last_cut.get_xdata()) == [kept[-1] + 1.5] * 2
    assert main_controls(explorer) == [sampler] and explorer.controls[sampler].layout.display is None
    assert all(explorer.controls[s].layout.display == "none" for s in w.ZOO_SAMPLERS if s != sampler)
    assert Image.open(io.BytesIO(explorer.png)).text["dd-boundary"] == "shown"
    assert_blit_is_exact(explorer)


def test_zoo_top_n_sigma_keeps_the_same_tokens_at_every_temperature(fake):
    explorer = w.SamplerZooExplorer(fake, sampler="top_n_sigma", top_n_sigma=1.0, temperature=0.5)
    colours = explorer.bars.colors
    for t in (1.0, 2.0, 3.0):
        explorer.set(temperature=t)
        assert explorer.bars.colors == colours
    explorer.set(sampler="top_p", top_p=0.9)
    assert main_controls(explorer) == ["top_p"] and drawn_for(explorer) == "0.90"


def test_zoo_checks_its_arguments(fake):
    with pytest.raises(ValueError, match="sampler must be one of"):
        w.SamplerZooExplorer(fake, sampler="top_k")
    with pytest.raises(ValueError, match=r"top_n_sigma=9.0 is outside the slider's range \[0, 4\]"):
        w.SamplerZooExplorer(fake, top_n_sigma=9.0)


def test_zoo_real_model_opens_where_the_first_move_changes_the_cut(model):
    explorer = w.SamplerZooExplorer(model, sampler="top_n_sigma", top_n_sigma=1.0, temperature=2.0)
    before = explorer.readout_text
    assert "of 49,152 tokens" in before and "top-nσ 1.0, T = 2" in before
    at = explorer.last_cut.get_xdata()[0]
    explorer.set(top_n_sigma=1.1)  # one → press
    assert explorer.last_cut.get_xdata()[0] != at
    explorer.set(sampler="typical_p", typical_p=0.5, prompt="Roses are red, violets are", temperature=1.0)
    assert explorer.first_cut.get_visible() and "most likely token removed" in explorer.subtitle.get_text()
