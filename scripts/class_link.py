"""Print the nbgitpuller link that puts the course into a learner's home on a JupyterHub.

    make class-link HUB=https://hub.example.edu REPO=https://github.com/example/decoding-dials
    python scripts/class_link.py --hub https://hub.example.edu --repo https://github.com/example/decoding-dials

A learner who clicks it logs in (if needed); nbgitpuller, installed in the hub's user
environment, clones the repository into their home (or, on later clicks, pulls the new commits,
keeping the learner's own changes) and JupyterLab opens lesson 00. The link is nbgitpuller's own
format (hub/user-redirect/git-pull?repo=...&branch=...&targetpath=...&urlpath=...), the one
its link generator writes; targetpath is given so the folder's name does not depend on whether
the repository URL ends in .git. See docs/classroom.md.
"""

from __future__ import annotations

import argparse
import sys
from urllib.parse import urlencode, urlsplit

FIRST_LESSON = "notebooks/00_start_here.ipynb"


def default_folder(repo: str) -> str:
    """The folder nbgitpuller would name after the repository: its last path part, without .git."""
    name = urlsplit(repo).path.rstrip("/").rsplit("/", 1)[-1] or repo.rstrip("/").rsplit("/", 1)[-1]
    return name.removesuffix(".git")


def class_link(hub: str, repo: str, *, branch: str = "main", folder: str | None = None, open_path: str = FIRST_LESSON) -> str:
    """The nbgitpuller link for `repo` on the hub at `hub` (its public URL, base path included)."""
    if urlsplit(hub).scheme not in ("http", "https") or not urlsplit(hub).netloc:
        raise ValueError(f"hub must be the hub's address, like https://hub.example.edu, got {hub!r}.")
    if not repo:
        raise ValueError("repo must be the course repository's git URL, like https://github.com/example/decoding-dials.")
    folder = folder or default_folder(repo)
    query = {
        "repo": repo,
        "branch": branch,
        "targetpath": folder,
        "urlpath": f"lab/tree/{folder}/{open_path}",
    }
    return f"{hub.rstrip('/')}/hub/user-redirect/git-pull?{urlencode(query)}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hub", required=True, help="the hub's public URL, e.g. https://hub.example.edu")
    parser.add_argument("--repo", required=True, help="the course repository's git URL")
    parser.add_argument("--branch", default="main")
    parser.add_argument("--folder", help="the folder in each learner's home (default: the repository's name)")
    args = parser.parse_args(argv)
    try:
        print(class_link(args.hub, args.repo, branch=args.branch, folder=args.folder))
    except ValueError as error:
        print(f"class_link: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
