"""Write learner copies of the lessons: no solution cells, no outputs.

    python scripts/make_student_copies.py notebooks student

A cell is a solution cell when its metadata tags include "solution" (the convention every
lesson follows). Learner copies keep everything else, with outputs, execution counts and
saved widget state cleared, so learners run every cell themselves.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import nbformat
from nbconvert.preprocessors import ClearOutputPreprocessor, TagRemovePreprocessor

SOLUTION_TAG = "solution"


def student_copy(notebook: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The learner's version of `notebook` (a new object; the input is not changed)."""
    copy = nbformat.from_dict(notebook)
    resources: dict = {}
    remove = TagRemovePreprocessor(remove_cell_tags={SOLUTION_TAG}, enabled=True)
    clear = ClearOutputPreprocessor(enabled=True)
    copy, resources = remove.preprocess(copy, resources)
    copy, resources = clear.preprocess(copy, resources)
    # Widget state belongs to the cleared outputs: without them it only bloats the file.
    copy.metadata.pop("widgets", None)
    return copy


def write_student_copies(source: Path, dest: Path) -> list[Path]:
    """Write a learner copy of every notebook in `source` into `dest`; return their paths."""
    notebooks = sorted(source.glob("*.ipynb"))
    if not notebooks:
        raise FileNotFoundError(f"no notebooks (*.ipynb) in {source}")
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for path in notebooks:
        notebook = nbformat.read(path, as_version=4)
        target = dest / path.name
        nbformat.write(student_copy(notebook), target)
        written.append(target)
    return written


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("source", type=Path, help="folder of lesson notebooks")
    parser.add_argument("dest", type=Path, help="folder for the learner copies")
    args = parser.parse_args(argv)
    written = write_student_copies(args.source, args.dest)
    print(f"{len(written)} learner notebooks (no '{SOLUTION_TAG}' cells, no outputs) in {args.dest}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
