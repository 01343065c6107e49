"""Decoding Dials: the code behind the lessons.

Layers, lower never imports higher:
    sampling   pure numpy math, the one source of truth for every formula
    model      the bundled SmolLM2 language model, its tokenizer and generation
    plots      matplotlib figure builders that update artists in place
    widgets    explorers: ipywidgets controls wired to plots
    exercises  learner checks, hints and solutions
"""

__version__ = "1.0.0"
