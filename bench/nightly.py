#!/usr/bin/env python3
"""A 4-run nightly plan at --parallel 1 and --parallel 2, timed, with vmtest's peak memory.

Four package sets of the example packages on debian12-armhf over the embedded driver
(capacity 2). The profile's saved state is made first (untimed), so both nights restore
guests; `--cold` boots every guest from its kernel instead. Peak memory is the maximum
resident set of the vmtest process itself (its VmHWM), not of its QEMU guests.

Usage: bench/nightly.py [--cold] [--hypervisor URI ...]   (needs script/build-examples' RPMs)
"""
import argparse, json, os, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from performance import timed  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VMTEST = os.path.join(ROOT, ".build", "debug", "vmtest")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", action="store_true")
    parser.add_argument("--hypervisor", action="append", default=[])
    args = parser.parse_args()
    rpms = subprocess.run([os.path.join(ROOT, "script", "build-examples")], check=True, capture_output=True, text=True).stdout.split()
    by_name = {os.path.basename(p).split("-1.0")[0]: p for p in rpms}
    hypervisors = args.hypervisor or ["embedded"]
    if not args.cold:
        subprocess.run([VMTEST, "image", "warm", "debian12-armhf"], check=True, cwd=ROOT, capture_output=True)
    with tempfile.TemporaryDirectory(prefix="vmtest-bench-nightly-") as folder:
        plan = os.path.join(folder, "night.yaml")
        with open(plan, "w") as f:
            f.write("profiles: [debian12-armhf]\npackages:\n")
            for name in ("vmtest-hello", "vmtest-hello-failing", "vmtest-broken-install"):
                f.write(f"  - {by_name[name]}\n")
            f.write(f"  - {{name: hello-twice, rpms: [{by_name['vmtest-hello']}]}}\n")
            f.write("hypervisors:\n" + "".join(f"  - {{uri: \"{uri}\", capacity: 2}}\n" for uri in hypervisors))
        figures = {}
        for parallel in (1, 2):
            results = os.path.join(folder, f"results-{parallel}")
            command = [VMTEST, "nightly", plan, "--parallel", str(parallel), "--results", results]
            if args.cold:
                command.append("--cold")
            wall, peak_mib, done = timed(command)
            if done.returncode not in (0, 1):
                sys.exit(f"vmtest nightly failed ({done.returncode}):\n{done.stderr[-3000:]}")
            report = json.load(open(os.path.join(results, "summary.json")))
            verdicts = ", ".join(f"{r['packageSet']}={r['verdict']}" for r in report["runs"])
            figures[parallel] = wall
            print(f"parallel {parallel}: {wall:7.1f} s wall, vmtest peak RSS {peak_mib:6.1f} MiB, "
                  f"concurrency {report['concurrency']} ({verdicts})")
        print(f"speed-up parallel 2 over 1: {figures[1] / figures[2]:.2f}x   ({'cold' if args.cold else 'warm'} guests, {os.cpu_count()} host cores)")


if __name__ == "__main__":
    main()
