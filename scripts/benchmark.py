#!/usr/bin/env python3
"""Synth benchmark: the project's lazy provider import vs the plain (eager) import, side by side.

Runs `python main.py synth` N times per path in fresh processes, alternating the two paths so both
see the same machine load, and prints median wall time, peak RSS of the whole process tree
(python + the jsii node kernel, sampled from /proc) and the ratio. Also checks that both paths
wrote byte-identical JSON.

    .venv/bin/python scripts/benchmark.py [--runs 5] [--env stage]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_SECONDS = 0.02
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
PATHS = {"project (lazy)": "0", "plain (eager)": "1"}


def _children(pid: int) -> list[int]:
    try:
        return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []


def _tree_rss_kb(pid: int) -> int:
    total, stack = 0, [pid]
    while stack:
        current = stack.pop()
        try:
            total += int(Path(f"/proc/{current}/statm").read_text().split()[1]) * PAGE_KB
        except (OSError, IndexError, ValueError):
            continue
        stack.extend(_children(current))
    return total


def run_once(eager: str, env_name: str, outdir: Path) -> tuple[float, int]:
    env = {**os.environ, "ARAQUEM_EAGER_PROVIDER_IMPORT": eager, "ARAQUEM_IMAGE_TAG": "benchmark"}
    cmd = [sys.executable, str(ROOT / "main.py"), "--env", env_name, "synth", "--outdir", str(outdir)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, _tree_rss_kb(proc.pid))
        time.sleep(SAMPLE_SECONDS)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"synth failed ({proc.returncode}): {proc.stderr.read().decode()}")
    return elapsed, peak


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5, help="runs per path (default 5)")
    parser.add_argument("--env", default="stage", help="environment to synthesize (default stage)")
    args = parser.parse_args()

    times: dict[str, list[float]] = {p: [] for p in PATHS}
    rss: dict[str, list[int]] = {p: [] for p in PATHS}
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {p: Path(tmp) / f"out-{i}" for i, p in enumerate(PATHS)}
        for _ in range(args.runs):
            for path, eager in PATHS.items():  # alternate: both paths share the machine's load
                elapsed, peak = run_once(eager, args.env, outputs[path])
                times[path].append(elapsed)
                rss[path].append(peak)
        jsons = {p: next(o.glob("stacks/*/cdk.tf.json")).read_bytes() for p, o in outputs.items()}
    identical = len(set(jsons.values())) == 1

    lazy, eager = (statistics.median(times[p]) for p in PATHS)
    print(f"{args.env} synth, {args.runs} runs per path, {os.cpu_count()} CPUs\n")
    print(f"| path | median wall (s) | min-max (s) | peak RSS, process tree (MB) |")
    print(f"| --- | --- | --- | --- |")
    for path in PATHS:
        t = times[path]
        print(f"| {path} | {statistics.median(t):.2f} | {min(t):.2f}-{max(t):.2f} | {max(rss[path]) / 1024:.0f} |")
    print(f"\nspeed-up: {eager / lazy:.1f}x; JSON byte-identical: {'yes' if identical else 'NO'}")
    return 0 if identical else 1


if __name__ == "__main__":
    sys.exit(main())
