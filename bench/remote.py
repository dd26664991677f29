#!/usr/bin/env python3
"""Runs on a libvirtd that sees none of this machine's files (#12), against the embedded driver.

Needs `script/libvirtd start isolated` (qemu+tcp://127.0.0.1:16510/system, a mount namespace
with empty file systems over vmtest's directories) and the example RPMs. Prints, from one
run of this script:

- the first run on a new hypervisor (vmtest's pool there emptied first): the base image's
  upload time and throughput, and the run's whole time (it also saves the ready guest there);
- a later run there, which restores that guest there: what it uploads and how long that
  takes, and its whole time against the same run through the embedded driver, which restores
  its own saved guest (target: at most 1.15 x). Each later run is timed twice, the faster
  counts: one run under TCG on two cores varies by a second.

Usage: bench/remote.py [--uri URI]
"""
import argparse, json, os, re, subprocess, sys, tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from performance import timed  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VMTEST = os.path.join(ROOT, ".build", "debug", "vmtest")
PROFILE = "debian12-armhf"
TARGET_RATIO = 1.15


def run(folder, name, rpm, connect=None, cold=False):
    results = os.path.join(folder, name)
    command = [VMTEST, "run", PROFILE, "--rpm", rpm, "--results", results]
    if connect:
        command += ["--connect", connect]
    if cold:
        command.append("--cold")
    wall, _, done = timed(command)
    if done.returncode != 0:
        sys.exit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    summary = json.load(open(os.path.join(results, "summary.json")))
    phases = {phase["name"]: phase["seconds"] for phase in summary.get("phases", [])}
    return wall, phases, done.stderr


def uploads(stderr):
    """Each upload's name, bytes and MiB/s from its last progress line (100 %)."""
    found = {}
    for match in re.finditer(r"upload: (\S+): ([0-9.]+) (KiB|MiB|GiB) of \S+ \S+ \(100 %\), ([0-9.]+) MiB/s", stderr):
        name, size, unit, rate = match.groups()
        found[name] = (float(size) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit], float(rate))
    for match in re.finditer(r"upload: (\S+): ([0-9.]+) (KiB|MiB|GiB)\n", stderr):
        name, size, unit = match.groups()
        found.setdefault(name, (float(size) * {"KiB": 1 / 1024, "MiB": 1, "GiB": 1024}[unit], None))
    return found


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--uri", default="qemu+tcp://127.0.0.1:16510/system")
    args = parser.parse_args()
    rpms = subprocess.run([os.path.join(ROOT, "script", "build-examples")], check=True, capture_output=True, text=True).stdout.split()
    rpm = next(p for p in rpms if os.path.basename(p).startswith("vmtest-hello-1.0"))
    # A new hypervisor: vmtest's pool there holds nothing.
    listed = subprocess.run(["virsh", "-c", args.uri, "vol-list", "vmtest", "--details"], capture_output=True, text=True)
    for line in listed.stdout.splitlines()[2:]:
        if line.split():
            subprocess.run(["virsh", "-c", args.uri, "vol-delete", line.split()[0], "--pool", "vmtest"], capture_output=True)
    subprocess.run([VMTEST, "image", "warm", PROFILE], check=True, cwd=ROOT, capture_output=True)

    with tempfile.TemporaryDirectory(prefix="vmtest-bench-remote-") as folder:
        first_wall, _, first_err = run(folder, "first", rpm, connect=args.uri)
        later = [run(folder, f"later-{n}", rpm, connect=args.uri) for n in (1, 2)]
        embedded = [run(folder, f"embedded-{n}", rpm) for n in (1, 2)]
    later_wall, later_phases, later_err = min(later, key=lambda r: r[0])
    embedded_wall, embedded_phases, _ = min(embedded, key=lambda r: r[0])

    first = uploads(first_err)
    base = next(((name, v) for name, v in first.items() if name.startswith("base-")), None)
    print(f"hypervisor: {args.uri} (sees none of this machine's files); profile {PROFILE}, the example RPM, debug build")
    if base:
        name, (mib, rate) = base
        seconds = mib / rate if rate else float("nan")
        print(f"first run: base image upload {mib:7.1f} MiB in {seconds:5.2f} s ({rate:.0f} MiB/s); "
              f"all uploads {upload_seconds(first):5.2f} s; whole run, saving the guest there, {first_wall:6.1f} s")
    else:
        print("first run: no base image was uploaded (was vmtest's pool there emptied?)")
    sent = uploads(later_err)
    listed = ", ".join(f"{name.split('-', 4)[-1]} {mib * 1024:.0f} KiB" for name, (mib, _) in sent.items()) or "nothing"
    print(f"later run: uploads {listed} in {upload_seconds(sent):5.2f} s; "
          f"restore {later_phases.get('restore', 0):4.2f} s; whole run {later_wall:6.1f} s")
    print(f"embedded driver, same run: restore {embedded_phases.get('restore', 0):4.2f} s; whole run {embedded_wall:6.1f} s")
    ratio = later_wall / embedded_wall
    mark = "PASS" if ratio <= TARGET_RATIO else "FAIL"
    print(f"later run / embedded run (both restored): {ratio:5.2f} x (target <= {TARGET_RATIO}) {mark}")


def upload_seconds(found):
    """The seconds the uploads took, from their sizes and rates."""
    return sum(mib / rate for mib, rate in found.values() if rate)

if __name__ == "__main__":
    main()
