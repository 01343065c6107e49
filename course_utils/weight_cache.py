"""One copy of the model's weights per machine: a read-only, memory-mapped cache on disk.

Dequantizing the GGUF file gives 540 MB of float32 arrays. Held in each kernel's own memory, a
class of 30 needs 30 copies of the same numbers. Written once to a file and memory-mapped
read-only instead, they are shared by every process that maps the file: the operating system
keeps one copy in its page cache, and a warm load only parses a small header.

    weights = load_cached(source, build, layout=1)
    weights.metadata, weights.arrays            # arrays are read-only views of the mapped file

`build()` returns (metadata, arrays) and is called only when no valid cache exists.

The file: magic, header length, a JSON header (format version, the source's SHA-256 and size,
metadata, each array's dtype, shape, offset and length, the data's SHA-256), then every array,
64-byte aligned. It is keyed by the source file's content and the format version, so a new model
file or a new layout gets a new cache and an old one is never read.

Robust by construction:
- written under a temporary name and renamed into place (atomic), so a reader sees a whole file
  or none; a file lock makes concurrent builders build once (the others wait, then map it);
- a partial, corrupt or stale file fails the check of magic, header, key and exact size and is
  rebuilt; `verify` also checks the data's SHA-256 (the install-time build command runs it);
- a location that cannot be written falls back to loading into memory, with a one-line note.

Where the cache lives (first that works): the directory in $COURSE_WEIGHT_CACHE if set (and then
only there); else the environment's prefix (sys.prefix/share/decoding-dials/weights: shared by
every user of a hub's environment when built at install time), else the user's cache directory
(XDG_CACHE_HOME, ~/Library/Caches, %LOCALAPPDATA%). Each build adds a line to builds.log there.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import struct
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

LOCATION_VARIABLE = "COURSE_WEIGHT_CACHE"
FORMAT_VERSION = 1
MAGIC = b"DDWEIGHT"
ALIGNMENT = 64  # bytes: what numpy's own .npy format aligns arrays to
APP_DIRECTORY = "decoding-dials"
SUFFIX = ".weights"
# One line per build, for whoever runs the machine: was it built at install time, and only once?
BUILD_LOG = "builds.log"
_LENGTH = struct.Struct("<Q")
_HEAD = len(MAGIC) + _LENGTH.size
_CHUNK = 1 << 24


class CacheUnavailable(OSError):
    """No location could hold the cache (read-only file system, no permission, replace refused)."""


@dataclass
class CachedWeights:
    """What `load_cached` found: the metadata, the arrays, and where they came from."""

    metadata: dict
    arrays: dict[str, np.ndarray]
    path: Path | None  # the mapped cache file, or None when the arrays live in this process only
    built: bool  # True when this call wrote the cache


# ---- where ---------------------------------------------------------------------------------


def user_cache_root() -> Path:
    """The user's cache directory, as platformdirs would give it (no dependency for one path)."""
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local"
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Caches"
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / APP_DIRECTORY / "weights"


def prefix_cache_root() -> Path:
    """The environment's own cache: in a venv or conda prefix, shared by all its users."""
    return Path(sys.prefix) / "share" / APP_DIRECTORY / "weights"


def cache_directories() -> list[Path]:
    """Where to look for the cache, first choice first."""
    override = os.environ.get(LOCATION_VARIABLE, "").strip()
    if override:
        return [Path(override).expanduser()]
    return [prefix_cache_root(), user_cache_root()]


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(directory, os.W_OK | os.X_OK)


# ---- the key -------------------------------------------------------------------------------


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def cache_file_name(source: Path, source_sha256: str, layout: int) -> str:
    """<model file stem>-<first 16 hex digits of its SHA-256>-v<format>.<layout>.weights"""
    return f"{source.stem}-{source_sha256[:16]}-v{FORMAT_VERSION}.{layout}{SUFFIX}"


# ---- reading -------------------------------------------------------------------------------


def read_header(path: Path) -> dict | None:
    """The header of a whole cache file, or None when the file is missing, partial or corrupt.

    Checks the magic, that the header parses, that its format version is this one, and that the
    file is exactly as long as the header says (a partial write or a truncated copy is shorter).
    """
    try:
        with open(path, "rb") as file:
            head = file.read(_HEAD)
            if len(head) != _HEAD or head[: len(MAGIC)] != MAGIC:
                return None
            (length,) = _LENGTH.unpack(head[len(MAGIC) :])
            header = json.loads(file.read(length).decode("utf-8"))
            size = os.fstat(file.fileno()).st_size
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict) or header.get("format_version") != FORMAT_VERSION:
        return None
    if header.get("file_size") != size:
        return None
    return header


def _matches(header: dict | None, source_sha256: str | None, source_stat: os.stat_result, layout: int) -> bool:
    """Is this the cache of this source file? By content hash, or (no hash given) by size and mtime.

    The size-and-mtime shortcut is how git and make tell an unchanged file without reading it;
    it saves hashing 100 MB on every warm load. A copy of the same file (another environment,
    other mtime) still matches by its hash.
    """
    if header is None or header.get("layout") != layout or header.get("source_size") != source_stat.st_size:
        return False
    if source_sha256 is not None:
        return header.get("source_sha256") == source_sha256
    return header.get("source_mtime_ns") == source_stat.st_mtime_ns


def map_arrays(path: Path, header: dict) -> dict[str, np.ndarray]:
    """Every array of the cache as a read-only view of one memory map of the file (no copy)."""
    whole = np.memmap(path, dtype=np.uint8, mode="r")
    arrays = {}
    for entry in header["arrays"]:
        start = entry["offset"]
        raw = np.asarray(whole[start : start + entry["nbytes"]])
        arrays[entry["name"]] = raw.view(np.dtype(entry["dtype"])).reshape(entry["shape"])
    return arrays


def verify(path: Path) -> bool:
    """Is the file a whole cache whose data still has the SHA-256 it was written with?"""
    header = read_header(path)
    if header is None:
        return False
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        file.seek(header["data_offset"])
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest() == header["data_sha256"]


def _find(directory: Path, source: Path, source_sha256: str | None, layout: int) -> tuple[Path, dict] | None:
    stat = source.stat()
    if source_sha256 is not None:
        candidates = [directory / cache_file_name(source, source_sha256, layout)]
    else:
        candidates = sorted(directory.glob(f"{source.stem}-*-v{FORMAT_VERSION}.{layout}{SUFFIX}"))
    for candidate in candidates:
        header = read_header(candidate)
        if _matches(header, source_sha256, stat, layout):
            return candidate, header
    return None


# ---- writing -------------------------------------------------------------------------------


def _aligned(offset: int) -> int:
    return -(-offset // ALIGNMENT) * ALIGNMENT


def _layout_header(metadata: dict, arrays: dict[str, np.ndarray], fields: dict) -> tuple[bytes, int]:
    """The header bytes and the data offset; offsets in the header count from the file's start.

    The header's own length changes the offsets it holds, so it is laid out until it settles.
    """
    data_offset = 0
    while True:
        entries, offset = [], data_offset
        for name, array in arrays.items():
            offset = _aligned(offset)
            entries.append(
                {"name": name, "dtype": array.dtype.str, "shape": list(array.shape), "offset": offset, "nbytes": array.nbytes}
            )
            offset += array.nbytes
        header = {**fields, "metadata": metadata, "arrays": entries, "data_offset": data_offset, "file_size": offset}
        encoded = json.dumps(header, ensure_ascii=False).encode("utf-8")
        needed = _aligned(_HEAD + len(encoded))
        if needed == data_offset:
            return encoded, data_offset
        data_offset = needed


def write_cache(path: Path, metadata: dict, arrays: dict[str, np.ndarray], fields: dict) -> None:
    """Write the cache to a temporary name beside `path`, flush it to disk, rename it into place."""
    digest = hashlib.sha256()
    arrays = {name: np.ascontiguousarray(array) for name, array in arrays.items()}
    # The data checksum must be in the header, so hash first (cheap next to writing 540 MB).
    # A digest is always 64 characters, so the placeholder's layout is the final one.
    _, position = _layout_header(metadata, arrays, {**fields, "data_sha256": "0" * 64})
    for array in arrays.values():
        padding = _aligned(position) - position
        digest.update(bytes(padding))
        digest.update(memoryview(array).cast("B"))
        position += padding + array.nbytes
    encoded, data_offset = _layout_header(metadata, arrays, {**fields, "data_sha256": digest.hexdigest()})
    temporary = path.with_name(f"{path.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}")
    try:
        with open(temporary, "wb") as file:
            file.write(MAGIC + _LENGTH.pack(len(encoded)) + encoded)
            file.write(bytes(data_offset - file.tell()))
            for array in arrays.values():
                file.write(bytes(_aligned(file.tell()) - file.tell()))
                file.write(memoryview(array).cast("B"))
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


@contextlib.contextmanager
def build_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (a lock file) while building: other builders wait.

    POSIX: flock, released by the kernel if the holder dies. Windows: msvcrt.locking, which
    retries for 10 s per call, hence the loop. Elsewhere: no lock (a race then builds twice;
    the rename still keeps every reader on a whole file).
    """
    with open(path, "a+b") as file:
        file.seek(0)
        if os.name == "posix":
            import fcntl

            fcntl.flock(file.fileno(), fcntl.LOCK_EX)
        elif os.name == "nt":
            import msvcrt

            while True:
                try:
                    msvcrt.locking(file.fileno(), msvcrt.LK_LOCK, 1)
                    break
                except OSError:
                    continue
        try:
            yield
        finally:
            if os.name == "posix":
                fcntl.flock(file.fileno(), fcntl.LOCK_UN)
            elif os.name == "nt":
                file.seek(0)
                msvcrt.locking(file.fileno(), msvcrt.LK_UNLCK, 1)


def _remove_leftovers(directory: Path, source: Path, keep: Path) -> None:
    """Under the lock: temporary files of builders that died, and caches of an older model file."""
    leftovers = [*directory.glob(f"{keep.name}.tmp-*"), *directory.glob(f"{source.stem}-*{SUFFIX}")]
    for other in leftovers:
        if other != keep:
            with contextlib.suppress(OSError):
                other.unlink()  # a kernel that still maps it keeps its pages until it exits


def _build_in(directory: Path, source: Path, build, layout: int) -> CachedWeights:
    source_sha256 = file_sha256(source)
    path = directory / cache_file_name(source, source_sha256, layout)
    with build_lock(path.with_name(path.name + ".lock")):
        # Another process may have built it while we waited for the lock.
        header = read_header(path)
        if _matches(header, source_sha256, source.stat(), layout):
            return CachedWeights(header["metadata"], map_arrays(path, header), path, built=False)
        started = time.perf_counter()
        metadata, arrays = build()
        stat = source.stat()
        fields = {
            "format_version": FORMAT_VERSION,
            "layout": layout,
            "source_name": source.name,
            "source_sha256": source_sha256,
            "source_size": stat.st_size,
            "source_mtime_ns": stat.st_mtime_ns,
        }
        write_cache(path, metadata, arrays, fields)
        _remove_leftovers(directory, source, keep=path)
        with open(directory / BUILD_LOG, "a", encoding="utf-8") as log:
            log.write(
                f"{time.strftime('%Y-%m-%dT%H:%M:%S%z')} built {path.name} ({path.stat().st_size / 1e6:.0f} MB) "
                f"from {source} in {time.perf_counter() - started:.1f} s, process {os.getpid()}\n"
            )
        header = read_header(path)
        if header is None:
            raise CacheUnavailable(f"The weight cache written to {path} does not read back.")
        return CachedWeights(header["metadata"], map_arrays(path, header), path, built=True)


def load_cached(
    source: Path, build: Callable[[], tuple[dict, dict[str, np.ndarray]]], *, layout: int, verify_data: bool = False
) -> CachedWeights:
    """The weights of `source`, memory-mapped from the cache; built first if no valid cache exists.

    layout: the caller's version of what `build` returns; raise it whenever that changes.
    verify_data: also check the data's SHA-256 (reads all 540 MB: for install time, not for
    every kernel), and rebuild a cache that fails it.
    """
    source = Path(source)
    directories = cache_directories()
    for directory in directories:
        found = _find(directory, source, None, layout) if directory.is_dir() else None
        if found is not None:
            path, header = found
            if verify_data and not verify(path):
                with contextlib.suppress(OSError):
                    path.unlink()  # corrupt: built again below
                continue
            return CachedWeights(header["metadata"], map_arrays(path, header), path, built=False)
    problems = []
    for directory in directories:
        if not _writable(directory):
            problems.append(f"{directory} is not writable")
            continue
        try:
            return _build_in(directory, source, build, layout)
        except OSError as error:
            problems.append(f"{directory}: {error.strerror or error}")
    metadata, arrays = build()
    size = sum(array.nbytes for array in arrays.values()) / 1e6
    print(
        f"Note: the model's weight cache could not be written ({'; '.join(problems)}), so this process "
        f"holds its own {size:.0f} MB copy. Set {LOCATION_VARIABLE} to a writable folder to share one.",
        file=sys.stderr,
    )
    return CachedWeights(metadata, arrays, None, built=False)
