"""Lesson 00 (start here): a warm-up that shows check, hint and solution."""

from __future__ import annotations

from course_utils.exercises.engine import WHOLE_NUMBER, ValueExercise

__all__ = ["vocabulary_size_exercise"]


# Reference solution. The model is imported and loaded only when check() needs the answer
# (cached per kernel, so free in the lesson): importing the exercises must stay cheap.
def vocabulary_size():
    from course_utils.model import load_model

    return load_model().vocab_size


def _diagnose_vocabulary_size(guess: int, expected: int) -> str:
    if guess <= 0:
        return "A vocabulary has at least one token: guess a positive number."
    factor = max(expected / guess, guess / expected)
    direction = "low" if guess < expected else "high"
    if factor < 1.5:
        return f"Close, but a little too {direction}. Try hint() to find the exact number."
    return f"Too {direction}, by more than a factor of {int(factor)}. Guess again, or try hint()."


vocabulary_size_exercise = ValueExercise(
    "vocabulary_size",
    kind=WHOLE_NUMBER,
    diagnose=_diagnose_vocabulary_size,
    question="How many different tokens does the course's model (SmolLM2-135M-Instruct) know?",
    hints=(
        "Tokens are pieces of words, not whole words: a vocabulary of a few thousand pieces could "
        "spell anything, but models use more so that common words are one token. Think tens of thousands.",
        "You do not have to guess: the model knows. `from course_utils.model import load_model`, "
        "then look at `load_model().vocab_size`.",
    ),
    solution=vocabulary_size,
    praise="Every one of these tokens gets a score at every step of generation: that is lesson 01.",
)
