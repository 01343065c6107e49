"""Benchmark: a class on a real JupyterHub (tests/hub_support.py), 1, 4 and 8 learners active at once.

    flock /tmp/dd_heavy.lock .venv/bin/python benchmarks/bench_hub.py [--learners 1 4 8] [--updates 12]

Needs the `classroom` extra and configurable-http-proxy (`make hub-proxy`). One hub on
127.0.0.1 with 8 users whose servers all run; the weight cache is built first, as at install
time. For each N, the first N learners each open a new kernel and, all at once, run lesson 03's
code over the kernel's websocket: load the model, draw the temperature explorer, then move its
slider --updates times. Printed per N:

* memory per learner: the kernel's USS (what the class adds per learner once the weights are
  shared), the learner's single-user server's USS, and the PSS of every process of the hub
  summed (hub, proxy, servers, kernels: what the class really uses, the shared weights counted once);
* the explorer's update (one slider move: recompute, redraw, PNG) median and p95 over every
  learner's moves, while N learners move theirs at the same time on this machine's cores.

Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psutil

from course_utils.widgets import TEMPERATURES

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from hub_support import LEARNERS, lesson_03_code, proxy_command, running_hub  # noqa: E402

MB = 1024 * 1024
# The temperature slider's stops above 0, visited in a scattered order.
STOPS = [t for t in TEMPERATURES if t > 0]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def uss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_full_info().uss / MB


def class_pss_mb(hub) -> float:
    total = 0
    for process in [psutil.Process(hub.process.pid), *hub.descendants()]:
        try:
            total += process.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total / MB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--learners", type=int, nargs="+", default=[1, 4, 8])
    parser.add_argument("--updates", type=int, default=12)
    args = parser.parse_args()
    proxy = proxy_command()
    if proxy is None:
        raise SystemExit("configurable-http-proxy not found: make hub-proxy")
    with tempfile.TemporaryDirectory() as tmp:
        cache_dir = Path(tmp) / "weights"
        subprocess.run([sys.executable, "-m", "course_utils.model", "build-cache"], check=True, cwd=ROOT,
                       env={**os.environ, "COURSE_WEIGHT_CACHE": str(cache_dir)})
        with running_hub(Path(tmp) / "hub", cache_dir=cache_dir, proxy=proxy) as hub:
            hub.create_users(LEARNERS)
            hub.start_servers(LEARNERS)
            learners = [hub.learner(name) for name in LEARNERS]
            print(f"cpu cores: {os.cpu_count()}, load average: {psutil.getloadavg()[0]:.1f}; "
                  f"{len(LEARNERS)} servers running, {args.updates} slider moves per learner\n")
            print(f"{'learners':>8} {'kernel USS MB':>14} {'server USS MB':>14} {'hub total PSS MB':>17} "
                  f"{'load s':>7} {'update s (median / p95)':>24}")
            for n in args.learners:
                active = learners[:n]
                kernels = [learner.start_kernel() for learner in active]
                code = lesson_03_code(STOPS[(7 * i + 3) % len(STOPS)] for i in range(args.updates))
                with ThreadPoolExecutor(n) as pool:
                    outputs = list(pool.map(lambda pair: pair[0].run(code, pair[1]), zip(active, kernels)))
                runs = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
                kernel_uss = [uss_mb(run["pid"]) for run in runs]
                server_uss = [uss_mb(psutil.Process(run["pid"]).parent().pid) for run in runs]
                total = class_pss_mb(hub)
                updates = [u for run in runs for u in run["updates_s"]]
                print(f"{n:>8} {statistics.median(kernel_uss):>14.0f} {statistics.median(server_uss):>14.0f} "
                      f"{total:>17.0f} {statistics.median(r['load_s'] for r in runs):>7.2f} "
                      f"{statistics.median(updates):>12.3f} / {percentile(updates, 0.95):.3f}"
                      + ("" if all(r["weights_file"] != "None" for r in runs) else "   (weights NOT shared!)"))
                for learner, kernel in zip(active, kernels):
                    learner.stop_kernel(kernel)
        print(f"\nprocesses left after the hub stopped: {len(hub.leftovers)}")


if __name__ == "__main__":
    main()
