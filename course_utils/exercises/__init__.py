"""Checked exercises, one module per lesson: ``check(answer)``, ``hint()``, ``solution()``.

In a notebook, import a lesson's exercises from its module::

    from course_utils.exercises.lesson02 import softmax_exercise

    def softmax(logits): ...           # the learner's attempt
    softmax_exercise.check(softmax)    # ✓, ✗ with a plain-words reason, or "No answer yet"
    softmax_exercise.hint()            # the next hint (hint(2) for a given one)
    softmax_exercise.solution()        # the reference solution, for those who ask

Naming: the exercise ``<name>_exercise`` checks what the learner writes as ``<name>`` (a
function or a value), its ``.name`` is ``"<name>"``, and its reference solution is the function
``<name>`` in the same lesson module.

``engine`` is the machinery every exercise shares (:class:`Feedback`, :class:`FunctionExercise`,
:class:`ValueExercise`, the answer kinds); ``lesson00`` ... ``lesson06`` hold each lesson's
exercises in notebook order. docs/adding-an-exercise.md says how to add one.
"""

from course_utils.exercises.engine import (
    Case,
    Exercise,
    Feedback,
    FunctionExercise,
    ValueExercise,
)

__all__ = ["Case", "Exercise", "Feedback", "FunctionExercise", "ValueExercise"]
