#!/usr/bin/env python3
"""Bare QEMU against vmtest, and vmtest's cold boot against its warm start, in one run.

Boots the debian12-armhf base image over fresh overlays:
  1. bare: qemu-system-arm started directly with the same machine, CPU, memory, kernel,
     initrd, command line and devices vmtest's domain XML gives it; ready = the root
     shell on the virtio console answers a probe (the same test vmtest uses);
  2. cold: `vmtest run debian12-armhf --cold --test true`, timed from outside, with its
     own phase timings from summary.json;
  3. warm: the same run restored from the profile's saved state (saved beforehand by
     `vmtest image warm`, untimed).
Prints each phase, vmtest's cold time-to-ready against bare QEMU's, the time vmtest
spends outside the guest, and warm time-to-ready against cold.

Time-to-ready is the time until the guest can take the package: for a cold run the
overlay, the boot, the console shell and cloud-init; for a warm run the restore, the
refresh (clock, random numbers) and installing the run's keys.

Usage: bench/boot-to-ready.py [--rounds N]   (needs a built image: vmtest image build debian12-armhf)
"""
import argparse, json, os, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bare import time_to_shell  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VMTEST = os.path.join(ROOT, ".build", "debug", "vmtest")


def built_image():
    cache = os.environ.get("VMTEST_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vmtest")
    folder = os.path.join(cache, "images", "debian-bookworm-armhf")  # ImageStore.folderName
    for key in sorted(os.listdir(folder)):
        manifest = os.path.join(folder, key, "manifest.json")
        if os.path.exists(manifest):
            return json.load(open(manifest))
    sys.exit("no debian12-armhf image; run: vmtest image build debian12-armhf")


def bare_qemu(image, workdir):
    return time_to_shell("qemu-system-arm", "cortex-a15", image["kernel"], image["initrd"], image["kernelCommandLine"],
                         image["disk"], workdir)


def vmtest_run(workdir, name, *flags):
    results = os.path.join(workdir, name)
    start = time.monotonic()
    done = subprocess.run([VMTEST, "run", "debian12-armhf", "--test", "true", "--channel", "serial", *flags,
                           "--results", results], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    total = time.monotonic() - start
    if done.returncode != 0:
        sys.exit(f"vmtest run failed ({done.returncode}):\n{done.stderr[-2000:]}")
    summary = json.load(open(os.path.join(results, "summary.json")))
    phases = {p["name"]: p["seconds"] for p in summary["phases"]}
    tests = sum(t["seconds"] for t in summary["tests"])
    return total, phases, tests


COLD_PHASES = ("overlay", "boot", "ready", "cloud-init")
WARM_PHASES = ("restore", "set-up")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=1)
    rounds = parser.parse_args().rounds
    image = built_image()
    for round_ in range(1, rounds + 1):
        with tempfile.TemporaryDirectory(prefix="vmtest-bench-") as workdir:
            bare = bare_qemu(image, workdir)
            total, phases, tests = vmtest_run(workdir, "cold", "--cold")
            # Untimed: makes sure the saved state exists, so the timed run only restores.
            warmed = subprocess.run([VMTEST, "image", "warm", "debian12-armhf"], cwd=ROOT,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            if warmed.returncode != 0:
                sys.exit(f"vmtest image warm failed ({warmed.returncode}):\n{warmed.stderr[-2000:]}")
            warm_total, warm_phases, warm_tests = vmtest_run(workdir, "warm")
        if "restore" not in warm_phases or "save" in warm_phases:
            sys.exit(f"the warm run did not just restore: {warm_phases}")
        shell_ready = phases.get("overlay", 0) + phases.get("boot", 0) + phases.get("ready", 0)
        cold_ready = sum(phases.get(name, 0) for name in COLD_PHASES)
        warm_ready = sum(warm_phases.get(name, 0) for name in WARM_PHASES)
        # Guest time: booting to a shell, cloud-init, and the test itself.
        outside = total - phases.get("ready", 0) - phases.get("cloud-init", 0) - tests
        print(f"round {round_}")
        print(f"  bare qemu-system-arm boot to shell:   {bare:8.2f} s")
        for name, seconds in phases.items():
            print(f"  cold phase {name:<24} {seconds:8.2f} s")
        for name, seconds in warm_phases.items():
            print(f"  warm phase {name:<24} {seconds:8.2f} s")
        print(f"  cold shell ready (overlay+boot+ready): {shell_ready:7.2f} s")
        print(f"  ratio cold shell ready / bare:       {shell_ready / bare:8.3f}   (target <= 1.05)")
        print(f"  time outside the guest (cold):       {outside:8.2f} s   (target <= 0.3 s)")
        print(f"  cold time-to-ready (+cloud-init):    {cold_ready:8.2f} s")
        print(f"  warm time-to-ready (restore+refresh+keys): {warm_ready:5.2f} s")
        print(f"  ratio warm / cold time-to-ready:     {warm_ready / cold_ready:8.3f}   (target <= 0.1)")
        print(f"  ratio warm / cold shell ready:       {warm_ready / shell_ready:8.3f}")
        print(f"  whole run, wall: cold {total:6.2f} s, warm {warm_total:6.2f} s")


if __name__ == "__main__":
    main()
