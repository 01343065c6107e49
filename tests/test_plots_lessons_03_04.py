"""The static figures of lessons 03 and 04: sampled frequencies next to the probabilities; the chain stage by stage."""

import numpy as np
import pytest

from course_utils.plots import StaticFigure, sampling_convergence_figure


def _setup(sizes=(10, 1000)):
    probs = np.array([0.5, 0.2, 0.1, 0.1, 0.05, 0.05])
    counts = {n: np.bincount(np.random.default_rng(n).choice(6, size=n, p=probs), minlength=6) for n in sizes}
    return probs, counts


def test_one_panel_per_n_with_the_distance_in_its_title():
    probs, counts = _setup()
    shown = sampling_convergence_figure(probs, counts, lambda i: f" t{i}", top=3)
    assert isinstance(shown, StaticFigure)
    axes = shown.figure.axes
    assert len(axes) == 2
    for ax, n in zip(axes, (10, 1000)):
        c = counts[n]
        groups = np.append(c[:3], n - c[:3].sum()) / n
        truth = np.append(probs[:3], 1 - probs[:3].sum())
        assert ax.get_title() == f"N = {n:,}: distance {0.5 * np.abs(groups - truth).sum():.3f}"
    assert [t.get_text() for t in axes[0].get_yticklabels()] == ["␣t0", "␣t1", "␣t2", "all others"]


def test_displays_as_png_with_a_stable_text():
    probs, counts = _setup()
    shown = sampling_convergence_figure(probs, counts, str)
    assert shown._repr_png_().startswith(b"\x89PNG")
    assert repr(shown) == "sampling_convergence_figure(N = 10, 1,000)"


@pytest.mark.parametrize("bad", [{}, {10: [1, 2, 3]}, {10: [1, 1, 1, 1, 1, 1]}])
def test_counts_that_do_not_fit_get_a_clear_error(bad):
    probs, _ = _setup()
    with pytest.raises(ValueError, match="counts"):
        sampling_convergence_figure(probs, bad, str)


# -- lesson 04: the chain, stage by stage --------------------------------------------------------


def test_chain_stages_figure_draws_every_stage_of_both_orders_on_the_same_tokens():
    from course_utils.plots import chain_stages_figure
    from course_utils.sampling import ORDERS, sampling_stages

    logits = np.log([0.4, 0.3, 0.15, 0.1, 0.05])
    chains = {order: sampling_stages(logits, temperature=2.0, top_p=0.6, order=order) for order in ORDERS}
    shown = chain_stages_figure(chains, lambda i: f"t{i}", top=4)
    axes = [ax for ax in shown.figure.axes if ax.get_visible()]
    assert len(axes) == sum(len(stages) for stages in chains.values()) == 10
    for ax, stage in zip(axes, [s for stages in chains.values() for s in stages]):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["t0", "t1", "t2", "t3"]  # the same tokens everywhere
        assert ax.get_title() == f"{stage.label}\nkeeps {int(np.count_nonzero(stage.probs)):,}"
        heights = [bar.get_height() for bar in ax.patches]
        kept = stage.probs[:4] > 0
        assert np.allclose(np.array(heights)[kept], stage.probs[:4][kept])
    assert repr(shown) == "chain_stages_figure(transformers, llama.cpp)"
    with pytest.raises(ValueError, match="chains"):
        chain_stages_figure({}, str)
