"""A class on JupyterHub, for real: 8 learners on one hub, the course pulled by nbgitpuller,
lesson 03's model and explorer in every kernel at once, one shared copy of the weights.

Needs the `classroom` extra (jupyterhub, nbgitpuller) and configurable-http-proxy from npm
(`make hub-proxy`); skips without them on a learner's machine, fails in CI (COURSE_REQUIRE_ALL).
"""

import importlib.util
import json
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import skip_or_fail
from hub_support import LEARNERS, ROOT, lesson_03_code, proxy_command, running_hub

sys.path.insert(0, str(ROOT / "scripts"))
from class_link import class_link, default_folder  # noqa: E402

# Lesson 03's code, as a learner runs it: the model, the temperature explorer, a few slider moves.
LESSON_03 = lesson_03_code((0.5, 1.5, 0.8, 2.0, 0.3))


def require_classroom() -> str:
    missing = [m for m in ("jupyterhub", "nbgitpuller", "websocket") if importlib.util.find_spec(m) is None]
    if missing:
        skip_or_fail(
            f"classroom tests skipped: {', '.join(missing)} not installed. "
            "Enable them with: .venv/bin/pip install -c constraints.txt -e '.[classroom]'",
            "classroom",
        )
    proxy = proxy_command()
    if proxy is None:
        skip_or_fail("classroom tests skipped: configurable-http-proxy not found. Enable them with: make hub-proxy", "classroom")
    return proxy


def test_the_class_link_is_nbgitpullers_and_opens_lesson_00():
    link = class_link("https://hub.example.edu/", "https://github.com/example/decoding-dials.git")
    assert link == (
        "https://hub.example.edu/hub/user-redirect/git-pull?repo=https%3A%2F%2Fgithub.com%2Fexample%2F"
        "decoding-dials.git&branch=main&targetpath=decoding-dials"
        "&urlpath=lab%2Ftree%2Fdecoding-dials%2Fnotebooks%2F00_start_here.ipynb"
    )
    assert (ROOT / "notebooks" / "00_start_here.ipynb").is_file()
    assert default_folder("file:///srv/git/course.git") == "course"
    with pytest.raises(ValueError, match="hub"):
        class_link("hub.example.edu", "https://github.com/example/decoding-dials")


def test_make_class_link_prints_the_link():
    result = subprocess.run(
        ["make", "-s", "class-link", "HUB=https://hub.example.edu", "REPO=https://github.com/example/decoding-dials"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )
    assert result.stdout.strip() == class_link("https://hub.example.edu", "https://github.com/example/decoding-dials")


def bare_clone_of_this_repository(destination: Path) -> str:
    """A bare repository holding this checkout's HEAD as `main`, as a file:// URL nbgitpuller clones."""
    subprocess.run(["git", "init", "--quiet", "--bare", str(destination)], check=True)
    subprocess.run(["git", "-C", str(ROOT), "push", "--quiet", str(destination), "HEAD:refs/heads/main"], check=True)
    return destination.as_uri()


@pytest.mark.slow
@pytest.mark.classroom
def test_a_class_of_8_on_a_real_hub_shares_one_copy_of_the_weights(tmp_path):
    proxy = require_classroom()
    cache_dir = tmp_path / "weights"  # empty: the class's first kernels build it, once
    repo = bare_clone_of_this_repository(tmp_path / "course.git")
    with running_hub(tmp_path / "hub", cache_dir=cache_dir, proxy=proxy) as hub:
        hub.create_users(LEARNERS)
        hub.start_servers(LEARNERS)
        learners = [hub.learner(name) for name in LEARNERS]

        events = learners[0].pull(class_link(hub.url, repo))
        assert events[-1]["phase"] == "finished", events[-1]
        assert (hub.homes / LEARNERS[0] / default_folder(repo) / "notebooks" / "00_start_here.ipynb").is_file()

        with ThreadPoolExecutor(len(learners)) as pool:
            outputs = list(pool.map(lambda learner: learner.run(LESSON_03), learners))
        # A dropped kernel websocket is reconnected as JupyterLab would (hub_support.Learner.run).
        print("kernel websockets reconnected:", {learner.name: learner.reconnections for learner in learners})
        runs = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
        assert len({run["pid"] for run in runs}) == len(LEARNERS)
        assert {run["readout"] for run in runs} == {runs[0]["readout"]}  # the same explorer everywhere
        assert {run["weights_file"] for run in runs} == {str(next(cache_dir.glob("*.weights")))}
        builds = (cache_dir / "builds.log").read_text().splitlines()
        assert len(builds) == 1, builds
    assert hub.leftovers == [], f"processes left running after the hub stopped: {hub.leftovers}"


@pytest.mark.slow
@pytest.mark.classroom
def test_a_dropped_kernel_connection_is_reconnected_and_loses_no_output(tmp_path, monkeypatch):
    """The learner's websocket drops while the kernel runs (as a laptop's Wi-Fi does); the
    reconnection with the same session gets what the kernel printed meanwhile, replayed by the
    server."""
    proxy = require_classroom()
    with running_hub(tmp_path / "hub", cache_dir=tmp_path / "weights", proxy=proxy) as hub:
        hub.create_users(LEARNERS[:1])
        hub.start_servers(LEARNERS[:1])
        learner = hub.learner(LEARNERS[0])
        read = type(learner)._read_until_idle
        drops = []

        def drop_the_first_connection(self, connection, msg_id, output, deadline):
            if not drops:
                drops.append(connection.recv_data())  # the request arrived: the kernel is busy
                connection.close()
                time.sleep(4)  # away longer than the kernel takes: its output can only come replayed
                raise websocket.WebSocketConnectionClosedException("dropped by the test")
            return read(self, connection, msg_id, output, deadline)

        import websocket

        monkeypatch.setattr(type(learner), "_read_until_idle", drop_the_first_connection)
        output = learner.run("import time\ntime.sleep(1)\nprint('printed while nobody listened')", timeout=60)
    assert learner.reconnections == 1
    assert output == "printed while nobody listened\n"
