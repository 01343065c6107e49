"""The tokenizer rebuilt from the GGUF file: exact SmolLM2 ids, display strings, chat template.

Reference tests compare with transformers' own GGUF tokenizer (the `reference` extra).
"""

import pytest

from conftest import require_reference
from course_utils.model import bundled_model_path
from course_utils.tokenizer import WHITESPACE_SYMBOLS, byte_alphabet, visible

TRICKY = [
    "The capital of France is",
    "I'm sure they'll say we'd've won, isn't it? DON'T SHOUT",
    "In 2024, 3.14159 × 1,000,000 = 3141590 and 007",
    "café naïve résumé Ångström",
    "Привет мир, 你好世界, مرحبا",
    "emoji 🤖🎉👩‍👩‍👧 ok",
    "def f(x):\n\treturn x**2  # square\n\n\n",
    "   three leading spaces",
    " one leading space",
    "\n\nnewlines\r\nand CRLF",
    "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
    "<|endoftext|>text<jupyter_code>x=1",
    "<|im_start",
    "non\u00a0breaking and zero\u200bwidth",
    '{"key": [1, 2, {"a": null}]}',
    "https://example.com/path?q=1&r=2#frag",
    "tab\tseparated\tvalues",
    "ĠĊ raw vocabulary characters",
    "x" * 40,
]
# Numerals outside 0-9: SmolLM2 (its tokenizer.json and llama.cpp's 'smollm' pre-tokenizer)
# splits every \p{N} character off alone; transformers' GGUF loader does not know 'smollm'.
OTHER_NUMERALS = ["Chapter Ⅻ, item ① and ½ cup", "² ³ ٣ ๓"]


def test_visible_marks_whitespace():
    assert visible(" a\n") == "␣a↵"
    assert visible("\tx\r\n") == "⇥x␍↵"
    assert visible("plain") == "plain"
    assert set(WHITESPACE_SYMBOLS) == {" ", "\n", "\t", "\r"}


def test_visible_rejects_non_text():
    with pytest.raises(TypeError, match="needs a str"):
        visible(42)


def test_byte_alphabet_is_a_bijection_of_256_bytes():
    alphabet = byte_alphabet()
    assert sorted(alphabet.values()) == list(range(256))
    assert alphabet["Ġ"] == ord(" ") and alphabet["Ċ"] == ord("\n") and alphabet["A"] == ord("A")


def test_known_ids(model):
    # Hand-checked against SmolLM2's tokenizer (and the reference test below).
    assert model.encode("The capital of France is") == [504, 3575, 282, 4649, 314]
    assert model.vocab_size == 49152


@pytest.mark.parametrize("text", TRICKY + OTHER_NUMERALS)
def test_decode_inverts_encode(model, text):
    assert model.decode(model.encode(text)) == text


def test_special_tokens_are_single_ids(model):
    ids = model.encode("<|im_start|>user\nHi<|im_end|>")
    assert ids[0] == 1 and ids[-1] == 2
    assert model.encode("<|endoftext|>") == [0]
    # Only the exact text is special: a fragment is ordinary characters.
    assert 1 not in model.encode("<|im_start")


def test_every_numeral_is_its_own_token(model):
    assert len(model.encode("2024")) == 4
    assert [model.decode([i]) for i in model.encode(" 12")] == [" ", "1", "2"]
    # Ⅻ (a numeral, \p{N}) is split off its space, then spelled in several byte tokens.
    ids = model.encode(" Ⅻ")
    assert ids[0] == model.encode(" ")[0] and model.decode(ids[1:]) == "Ⅻ"


def test_token_text_shows_whitespace_and_partial_characters(model):
    texts = [model.token_text(i) for i in model.encode(" Paris\n\tx 🤖")]
    assert texts[0] == "␣Paris"
    assert "↵" in texts and "⇥" in texts
    # The robot emoji is 4 bytes split over several tokens: each shows its bytes.
    assert "".join(texts).endswith("<0xF0><0x9F><0xA4><0x96>")
    assert model.token_text(2) == "<|im_end|>"


def test_chat_prompt_uses_the_files_template(model):
    expected = (
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"
    )
    assert model.chat_prompt("What is 2+2?") == expected
    assert model.chat_prompt("Hi", system="Be brief.").startswith("<|im_start|>system\nBe brief.<|im_end|>\n")


def test_end_of_sequence_ids(model):
    assert model.eos_ids == {0, 2}  # <|endoftext|> and <|im_end|>


@pytest.mark.parametrize(
    "ids, error, words",
    [
        ([], ValueError, "empty"),
        ([5, 49152], ValueError, "ids go from 0 to 49151"),
        ([-1], ValueError, "ids go from 0"),
        (["5"], TypeError, "is not a token id"),
        ([1.0], TypeError, "is not a token id"),
        ("hello", TypeError, "list of token ids"),
    ],
)
def test_bad_ids_get_clear_errors(model, ids, error, words):
    with pytest.raises(error, match=words):
        model.next_token_logits(ids)


def test_encode_rejects_non_text(model):
    with pytest.raises(TypeError, match="needs a str"):
        model.encode([1, 2])


# ---- against transformers' tokenizer for the same file ---------------------------------------


@pytest.fixture(scope="module")
def hf_tokenizer():
    require_reference()
    from transformers import AutoTokenizer

    path = bundled_model_path()
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


@pytest.mark.reference
@pytest.mark.parametrize("text", TRICKY)
def test_ids_equal_transformers(model, hf_tokenizer, text):
    assert model.encode(text) == hf_tokenizer.encode(text, add_special_tokens=False)
    assert model.decode(model.encode(text)) == hf_tokenizer.decode(hf_tokenizer.encode(text, add_special_tokens=False))


@pytest.mark.reference
@pytest.mark.parametrize("text", TRICKY + OTHER_NUMERALS)
def test_ids_equal_transformers_with_smollm2_pre_tokenizer(model, hf_tokenizer, text):
    """With SmolLM2's own pre-tokenizer (Digits + ByteLevel, as in its tokenizer.json), every string matches."""
    import copy

    from tokenizers import pre_tokenizers

    backend = copy.deepcopy(hf_tokenizer.backend_tokenizer)
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Digits(individual_digits=True), pre_tokenizers.ByteLevel(add_prefix_space=False)]
    )
    assert model.encode(text) == backend.encode(text, add_special_tokens=False).ids


@pytest.mark.reference
@pytest.mark.parametrize("message", ["What is 2+2?", "Two\nlines, 'quotes' and {braces}"])
def test_chat_template_equals_transformers(model, hf_tokenizer, message):
    rendered = hf_tokenizer.apply_chat_template(
        [{"role": "user", "content": message}], tokenize=False, add_generation_prompt=True
    )
    assert model.chat_prompt(message) == rendered
