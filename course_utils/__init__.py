"""Decoding Dials: the code behind the lessons.

Layers, lowest first; a module imports only from layers below its own (tests/test_layers.py):
    checks              what a learner passes in, one rule for every check
    processors, reproducibility, interface
                        one class per dial (the one source of truth for every formula): masks,
                        logit_bias, penalties, n-grams, min_new_tokens, temperature, top-k/p, min-p;
                        the same course on every machine: the margin policy, machine noise;
                        what the course asks of a model, as Protocols
    chain               SamplingConfig (every dial checked once) and the Chain of processors it builds
    draw                the draw (an exponential race) and its margin
    sampling, ecosystem, degeneration, display
                        the functions lessons call (softmax, filters, next_token_distribution, ...),
                        the libraries' dials as cited data, text-quality metrics, number formats
    tokenizer, weight_cache, model_file
                        SmolLM2's byte-level BPE; the weights in one memory-mapped file per machine;
                        the bundled GGUF file, its model's shape and its weights read
    model               the numpy forward pass of the bundled SmolLM2-135M-Instruct
    beam_search, structured, speculative
                        beam search as transformers runs it; llguidance's grammar masks;
                        speculative decoding's rule and its drafts (prompt lookup, early exit)
    generation, adapters
                        the autoregressive loop; transformers / OpenAI-compatible sources
    plots               rendering, live panels updated in place, static lesson figures
    widgets             explorers: controls wired to one figure
    exercises           check() / hint() / solution(), one module per lesson
    setup_check         `make check`
The README's "How the course is built" has the same table with one line per module.
"""

__version__ = "1.0.0"
