"""Benchmark: a class on one machine, N kernels each loading the model and drawing an explorer.

    flock /tmp/dd_heavy.lock .venv/bin/python benchmarks/bench_classroom.py [--learners 1 4 8]
        [--in-memory] [--no-lesson-05]

For N = 1, 4, 8 learners: N Jupyter kernels start (jupyter_client's KernelManager, the same
kernels JupyterLab starts) and, all at once, run lesson 03's code: load the model, draw a
TemperatureExplorer, move its slider a few times. Then the operating system's figures for each
kernel (psutil's memory_full_info, from /proc/<pid>/smaps):

* USS: memory only this kernel holds, what one more learner adds to the machine;
* PSS: its fair share of shared pages (the mapped weights split between the kernels that map
  them), so the sum over kernels is what the class really uses;
* warm load: load_model() in a kernel, the weight cache already built;
* explorer update: one slider change (a redraw), median and p95 over every kernel's changes.

Then lesson 05 under nbconvert, sampling the whole process tree (nbconvert, its kernel, the
replication script the lesson starts) every 0.2 s: peak summed PSS (and summed RSS, which counts
shared pages once per process).

--in-memory: each process holds its own copy (the weight cache pointed at a location that cannot
be written), i.e. the course before the cache. Targets (issue 16): USS per learner <= 250 MB,
warm load <= 0.5 s, lesson 05 <= 1 GB. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from jupyter_client.manager import KernelManager

REPO = Path(__file__).resolve().parents[1]
MB = 1024 * 1024

LESSON_03 = """
import json, time
started = time.perf_counter()
from course_utils.model import load_model
from course_utils.widgets import TemperatureExplorer
imported = time.perf_counter()
model = load_model()
loaded = time.perf_counter()
explorer = TemperatureExplorer(model, prompt="The capital of France is", temperature=1.0)
drawn = time.perf_counter()
updates = []
for temperature in (0.5, 1.5, 0.8, 2.0, 0.3, 1.0, 0.7, 2.5):
    start = time.perf_counter()
    explorer.set(temperature=temperature)
    updates.append(time.perf_counter() - start)
print(json.dumps({"import_s": imported - started, "load_s": loaded - imported, "explorer_s": drawn - loaded,
                  "updates_s": updates, "cached": model.weights_file is not None}))
"""


def run_code(client, code: str, timeout: float = 600) -> str:
    """Execute `code` in a kernel; its stdout, or RuntimeError with the traceback."""
    message_id = client.execute(code)
    output = []
    while True:
        message = client.get_iopub_msg(timeout=timeout)
        if message["parent_header"].get("msg_id") != message_id:
            continue
        kind, content = message["msg_type"], message["content"]
        if kind == "stream" and content["name"] == "stdout":
            output.append(content["text"])
        elif kind == "error":
            raise RuntimeError("\n".join(content["traceback"]))
        elif kind == "status" and content["execution_state"] == "idle":
            return "".join(output)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def class_of(n: int, env: dict) -> dict:
    """N kernels running lesson 03's code at once; their memory and timings."""
    managers = []
    for _ in range(n):
        manager = KernelManager(kernel_name="python3")
        manager.start_kernel(env=env, cwd=str(REPO), stderr=subprocess.DEVNULL)  # no TCP warning banners
        managers.append(manager)
    try:
        clients = [manager.client() for manager in managers]
        for client in clients:
            client.start_channels()
            client.wait_for_ready(timeout=120)
        results: list[dict | None] = [None] * n
        errors: list[BaseException] = []

        def learner(i: int) -> None:
            try:
                results[i] = json.loads(run_code(clients[i], LESSON_03).strip().splitlines()[-1])
            except BaseException as error:  # reported below, after every learner is done
                errors.append(error)

        threads = [threading.Thread(target=learner, args=(i,)) for i in range(n)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if errors:
            raise errors[0]
        memory = [psutil.Process(manager.provisioner.process.pid).memory_full_info() for manager in managers]
        for client in clients:
            client.stop_channels()
    finally:
        for manager in managers:
            manager.shutdown_kernel(now=True)
    return {
        "uss_mb": [m.uss / MB for m in memory],
        "pss_mb": [m.pss / MB for m in memory],
        "rss_mb": [m.rss / MB for m in memory],
        "load_s": [r["load_s"] for r in results],
        "import_s": [r["import_s"] for r in results],
        "updates_s": [u for r in results for u in r["updates_s"]],
        "cached": all(r["cached"] for r in results),
    }


def tree_memory(root: psutil.Process) -> tuple[float, float, int]:
    """Summed PSS and RSS (MB) of a process and all its descendants, and how many there are."""
    pss = rss = 0
    processes = [root]
    try:
        processes += root.children(recursive=True)
    except psutil.NoSuchProcess:
        return 0.0, 0.0, 0
    for process in processes:
        try:
            info = process.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        pss += info.pss
        rss += info.rss
    return pss / MB, rss / MB, len(processes)


def lesson_05_peak(env: dict) -> dict:
    """Lesson 05 executed by nbconvert; the peak memory of its whole process tree."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "jupyter", "nbconvert", "--to", "notebook", "--execute",
                   "--output-dir", out, "notebooks/05_generation.ipynb"]
        started = time.perf_counter()
        process = psutil.Popen(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        peak_pss = peak_rss = 0.0
        most = 0
        while process.poll() is None:
            pss, rss, count = tree_memory(process)
            peak_pss, peak_rss, most = max(peak_pss, pss), max(peak_rss, rss), max(most, count)
            time.sleep(0.2)
        if process.returncode != 0:
            raise RuntimeError(process.stderr.read().decode()[-3000:])
    return {"peak_pss_mb": peak_pss, "peak_rss_mb": peak_rss, "processes": most, "seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--in-memory", action="store_true", help="no shared cache: the course before issue 16")
    parser.add_argument("--no-lesson-05", dest="lesson_05", action="store_false")
    args = parser.parse_args()
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    if args.in_memory:
        blocker = Path(tempfile.mkdtemp()) / "a-file"
        blocker.write_text("")
        env["COURSE_WEIGHT_CACHE"] = str(blocker / "cache")  # cannot be created: in-memory fallback
    else:
        subprocess.run([sys.executable, "-m", "course_utils.model", "build-cache"], env=env, cwd=REPO, check=True)
    load = psutil.getloadavg()
    print(f"cpu cores: {os.cpu_count()}, load average before: {load[0]:.1f}; "
          f"weights {'in each process' if args.in_memory else 'memory-mapped from the shared cache'}\n")
    print(f"{'learners':>8} {'USS/learner MB':>15} {'PSS/learner MB':>15} {'class PSS MB':>13} "
          f"{'warm load s':>12} {'update s (median / p95)':>24}")
    for n in args.learners:
        r = class_of(n, env)
        print(f"{n:>8} {statistics.median(r['uss_mb']):>15.0f} {statistics.median(r['pss_mb']):>15.0f} "
              f"{sum(r['pss_mb']):>13.0f} {statistics.median(r['load_s']):>6.2f} (max {max(r['load_s']):.2f}) "
              f"{statistics.median(r['updates_s']):>10.3f} / {percentile(r['updates_s'], 0.95):.3f}"
              + ("" if r["cached"] == (not args.in_memory) else "   (cache not used as intended!)"))
    if args.lesson_05:
        peak = lesson_05_peak(env)
        print(f"\nlesson 05 under nbconvert: peak {peak['peak_pss_mb']:.0f} MB summed PSS "
              f"({peak['peak_rss_mb']:.0f} MB summed RSS) over up to {peak['processes']} processes, "
              f"{peak['seconds']:.0f} s")


if __name__ == "__main__":
    main()
