#!/usr/bin/env python3
"""Profile ferrymq's hot path under one load-generator scenario with py-spy.

    bench/profile.py --protocol stomp --scenario queue            # non-persistent queue
    bench/profile.py --protocol stomp --scenario queue-p          # persistent (receipts, client acks)
    bench/profile.py --summarize profile-stomp-queue.txt          # re-read a collapsed-stack file

Starts a fresh `ferrymq serve` (same ports and user as bench/run.py), runs the harness's
load generator against it for --duration seconds, and samples the broker with
`py-spy record --format raw` (collapsed stacks, every thread, non-blocking) while the
generator runs. Then prints the top functions by own time (leaf frame) and by cumulative
time (anywhere in the stack), as a share of the samples and as microseconds of broker CPU
per message (the share times the broker CPU per message the generator measured).

Needs py-spy in the project venv (`.venv/bin/pip install py-spy`) and a prepared harness
cache (bench/run.py does that)."""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (bench/run.py: the ferrymq process and harness helpers)

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short_file(path: str) -> str:
    for marker in ("/site-packages/", "/src/", "/lib/python3.11/"):
        if marker in path:
            return path.split(marker, 1)[1]
    return os.path.basename(path)


def parse_collapsed(path: Path) -> list[tuple[list[str], int]]:
    """py-spy raw output: `frame;frame;...;leaf count` per line, root first."""
    stacks = []
    for ln in path.read_text().splitlines():
        head, _, n = ln.rpartition(" ")
        if not head or not n.isdigit():
            continue
        frames = []
        for f in head.split(";"):
            m = FRAME.match(f)
            frames.append(f"{m['func']} ({short_file(m['file'])})" if m else f)
        stacks.append((frames, int(n)))
    return stacks


def summarize(stacks: list[tuple[list[str], int]], per_msg_us: float | None, top: int) -> str:
    total = sum(n for _, n in stacks)
    if not total:
        return "no samples\n"
    own: collections.Counter[str] = collections.Counter()
    cum: collections.Counter[str] = collections.Counter()
    threads: collections.Counter[str] = collections.Counter()
    for frames, n in stacks:
        thread = next((f for f in frames if f.startswith(("thread ", "process "))), "")
        code = [f for f in frames if not f.startswith(("thread ", "process "))]
        threads[thread or "?"] += n
        if code:
            own[code[-1]] += n
        for f in set(code):
            cum[f] += n
    out = [f"samples: {total} (non-idle, all threads)"]
    if per_msg_us:
        out.append(f"broker CPU per message: {per_msg_us:.1f} µs (from the generator's result)")
    out.append("\nthreads: " + ", ".join(f"{t} {n / total:.0%}" for t, n in threads.most_common(6)))

    def table(title: str, c: collections.Counter[str]) -> None:
        out.append(f"\n{title}\n")
        out.append("| % samples | µs/msg | function (file) |")
        out.append("|---:|---:|---|")
        for f, n in [(f, n) for f, n in c.most_common() if n < total * 0.995][:top]:
            us = f"{n / total * per_msg_us:.1f}" if per_msg_us else "–"
            out.append(f"| {n / total:.1%} | {us} | `{f}` |")

    table("Top by own time (leaf frame)", own)
    table("Top by cumulative time (on the stack; frames in every sample left out)", cum)
    return "\n".join(out) + "\n"


def loadgen_cmd(cache: Path, proto: str, scenario: str, port: int, a: argparse.Namespace) -> list[str]:
    scen, persistent = {"queue": ("queue", False), "queue-p": ("queue", True), "fanout": ("fanout", False)}[
        scenario
    ]
    cmd = [str(cache / ".venv" / "bin" / "python"), "-m", "loadgen", "--target", f"127.0.0.1:{port}"]
    cmd += ["--protocol", proto, "--scenario", scen, "--label", "ferrymq", "--count", str(a.count)]
    cmd += ["--max-time", str(a.duration + 2), "--user", a.user, "--password", a.password]
    return cmd + (["--persistent"] if persistent else [])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--protocol", default="stomp")
    ap.add_argument("--scenario", default="queue", choices=["queue", "queue-p", "fanout"])
    ap.add_argument("--duration", type=int, default=15, help="seconds sampled")
    ap.add_argument("--rate", type=int, default=200, help="py-spy samples per second")
    ap.add_argument("--count", type=int, default=2_000_000, help="messages (the run is bounded by time)")
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--out-dir", type=Path, default=bench.DEFAULT_CACHE / "profiles")
    ap.add_argument("--summarize", type=Path, default=None, help="only summarize this collapsed-stack file")
    ap.add_argument("--per-msg-us", type=float, default=None, help="with --summarize: broker CPU µs/msg")
    ap.add_argument("--port-base", type=int, default=46000)
    ap.add_argument("--user", default="bench")
    ap.add_argument("--password", default="bench-secret")
    ap.add_argument("--cache", type=Path, default=bench.DEFAULT_CACHE)
    a = ap.parse_args(argv)
    if a.summarize:
        print(summarize(parse_collapsed(a.summarize), a.per_msg_us, a.top))
        return 0

    pyspy = shutil.which("py-spy", path=str(bench.PROJECT / ".venv" / "bin")) or shutil.which("py-spy")
    if not pyspy:
        raise SystemExit("py-spy not found: .venv/bin/pip install py-spy")
    exe = str(bench.PROJECT / ".venv" / "bin" / "ferrymq")
    listeners = bench.ferrymq_protocols(exe)
    a.out_dir.mkdir(parents=True, exist_ok=True)
    stem = a.out_dir / f"profile-{a.protocol}-{a.scenario}"
    fq = bench.Ferrymq(exe, a.port_base, listeners, a.user, a.password, a.cache / ".run" / "ferrymq")
    pid = fq.start()
    try:
        time.sleep(2)
        port = a.port_base + bench.SUFFIX[a.protocol]
        gen = subprocess.Popen(
            loadgen_cmd(a.cache, a.protocol, a.scenario, port, a),
            cwd=a.cache,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        time.sleep(2)  # past the generator's warm-up
        spy = [pyspy, "record", "--pid", str(pid), "--duration", str(a.duration), "--rate", str(a.rate)]
        spy += ["--nonblocking", "--threads", "--format", "raw", "-o", f"{stem}.txt"]
        subprocess.run(spy, check=True, capture_output=True)
        res_out, _ = gen.communicate(timeout=a.duration + 120)
        line = next((ln for ln in reversed(res_out.splitlines()) if ln.startswith("{")), "{}")
        res: dict[str, Any] = json.loads(line)
    finally:
        fq.stop()
    (stem.with_suffix(".json")).write_text(json.dumps(res) + "\n")
    per_msg = bench._cpu_per_msg(res) if res.get("ok") else None
    text = (
        f"ferrymq {a.protocol} {a.scenario}: {res.get('msgs_per_s')} msg/s, broker cpu_util "
        f"{(res.get('broker') or {}).get('cpu_util')}, host busy "
        f"{((res.get('broker') or {}).get('host') or {}).get('busy_frac')}\n\n"
        + summarize(parse_collapsed(Path(f"{stem}.txt")), per_msg, a.top)
    )
    (stem.with_suffix(".md")).write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
