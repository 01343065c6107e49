"""How long each exercise's check() takes, answered with its reference solution: the first check in
a fresh kernel (the model loaded, nothing else run), then a second one. A check a learner runs should
answer within a few seconds.

    .venv/bin/python benchmarks/bench_checks.py
"""

import importlib
import pkgutil
import time

import course_utils.exercises as exercises
from course_utils.exercises.engine import Exercise
from course_utils.model import load_model


def every_exercise():
    for module in pkgutil.iter_modules(exercises.__path__):
        if module.name.startswith("lesson"):
            lesson = importlib.import_module(f"course_utils.exercises.{module.name}")
            for name in lesson.__all__:
                yield module.name, getattr(lesson, name)


def seconds(exercise: Exercise) -> float:
    start = time.perf_counter()
    feedback = exercise.check(exercise.solution_answer())
    assert feedback, f"{exercise.name}: the reference solution failed its own check"
    return time.perf_counter() - start


def main() -> None:
    load_model()  # every kernel has loaded it before its first check
    print(f"{'lesson':>9} {'exercise':>26} {'first check s':>14} {'again s':>8}")
    for lesson, exercise in every_exercise():
        first, again = seconds(exercise), seconds(exercise)
        print(f"{lesson:>9} {exercise.name:>26} {first:>14.2f} {again:>8.2f}")


if __name__ == "__main__":
    main()
