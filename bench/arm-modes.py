#!/usr/bin/env python3
"""Each way of running an armhf guest, side by side, in one run: vmtest against bare QEMU.

Ways, on the hosts that offer them:
  here (this machine, TCG):   32-bit guest kernel (qemu-system-arm -cpu cortex-a15)
                              64-bit guest kernel (qemu-system-aarch64 -cpu cortex-a72, --guest-kernel 64)
  emulated cortex-a57 host:   KVM, the guest's own 32-bit kernel (-cpu host,aarch64=off)
  emulated cortex-a76 host:   KVM, a 64-bit guest kernel under the armhf userland (-cpu host)

For each: bare QEMU started by hand the same way (same kernel, initrd, command line, memory,
vCPUs, virtio console), timed to the root shell on hvc0 answering; and `vmtest run
debian12-armhf --cold --test true` (serial channel), with its time-to-ready (overlay, boot,
shell) from summary.json and its whole wall time. Prints the ratio vmtest / bare.

Nested figures (the emulated hosts) are far slower than real hardware: the inner guest's code
is still emulated by the outer QEMU, with every trap going through the emulated host's KVM.
They prove the paths and compare vmtest with bare QEMU on the same host; they say nothing
absolute about an Arm server.

Usage: bench/arm-modes.py [--skip-emulated]
  (needs the debian12-armhf image; starts and stops the emulated hosts with script/arm-host)
"""
import argparse, json, os, signal, subprocess, sys, tempfile, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bare import qemu_arguments, time_to_shell  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VMTEST = os.environ.get("VMTEST_EXECUTABLE") or os.path.join(ROOT, ".build", "debug", "vmtest")
ARM_HOST = os.path.join(ROOT, "script", "arm-host")
CACHE = os.environ.get("VMTEST_CACHE_DIR") or os.path.join(os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "vmtest")


def newest_manifest(folder):
    found = [os.path.join(folder, key, "manifest.json") for key in os.listdir(folder)]
    found = [path for path in found if os.path.exists(path)]
    if not found:
        sys.exit(f"nothing built in {folder}")
    return json.load(open(max(found, key=os.path.getmtime)))


def image():
    return newest_manifest(os.path.join(CACHE, "images", "debian-bookworm-armhf"))  # ImageStore.folderName


def compat_kernel():
    return newest_manifest(os.path.join(CACHE, "kernels", "debian12-arm64"))["kit"]


# Inside an emulated host: busybox sh, the console over a pipe pair, timed with /proc/uptime.
BARE_IN_HOST = r"""
set -u
dir=$(mktemp -d /run/vmtest-bare.XXXXXX)
mkfifo "$dir/c.in" "$dir/c.out"
start=$(cut -d' ' -f1 /proc/uptime)
"$@" -chardev "pipe,id=c,path=$dir/c" >"$dir/qemu.log" 2>&1 &
qemu=$!
( while kill -0 $qemu 2>/dev/null; do printf '\nprintf "\\036bench-ready\\036\\n"\n'; sleep 2; done ) >"$dir/c.in" &
prober=$!
if timeout 1500 grep -a -m1 -q "$(printf '\036')bench-ready" "$dir/c.out"; then
  end=$(cut -d' ' -f1 /proc/uptime)
  echo "ready $(awk "BEGIN { print $end - $start }")"
else
  echo "no shell"; tail -5 "$dir/qemu.log"
fi
kill -9 $qemu $prober 2>/dev/null; wait 2>/dev/null
rm -rf "$dir"
"""


def bare_in_host(name, accel_cpu, kernel, initrd, cmdline, disk, workdir):
    overlay = os.path.join(workdir, "overlay.qcow2")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", disk, overlay], check=True)
    script = os.path.join(workdir, "bare.sh")
    open(script, "w").write(BARE_IN_HOST)
    arguments = qemu_arguments("qemu-system-aarch64", "virt,gic-version=host", "kvm", accel_cpu, kernel, initrd, cmdline,
                               overlay, "PLACEHOLDER", workdir)
    # The console chardev is the script's pipe pair, added by the script itself.
    at = arguments.index("-chardev")
    del arguments[at:at + 2]
    done = subprocess.run([ARM_HOST, "exec", name, "--", "sh", script, *arguments], capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith("ready "):
            return float(line.split()[1])
    sys.exit(f"bare QEMU in {name}: {done.stdout[-1500:]} {done.stderr[-1500:]}")


def vmtest_run(workdir, label, *flags, attempts=1):
    """Nested guests sometimes oops in the emulated host's KVM (the notes say why); such a
    run is retried, and the figures are the passing attempt's."""
    for attempt in range(1, attempts + 1):
        results = os.path.join(workdir, f"{label}-{attempt}")
        start = time.monotonic()
        done = subprocess.run([VMTEST, "run", "debian12-armhf", "--test", "true", "--channel", "serial", "--cold", *flags,
                               "--results", results], cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        total = time.monotonic() - start
        if done.returncode == 0:
            break
        print(f"  vmtest run {' '.join(flags)}: attempt {attempt} failed ({done.returncode}) after {total:.0f} s", file=sys.stderr)
    else:
        print(f"  vmtest run {' '.join(flags)} failed {attempts} time(s); last:\n{done.stderr[-1500:]}", file=sys.stderr)
        return None, None, "failed"
    summary = json.load(open(os.path.join(results, "summary.json")))
    phases = {p["name"]: p["seconds"] for p in summary["phases"]}
    ready = phases.get("overlay", 0) + phases.get("boot", 0) + phases.get("ready", 0)
    return ready, total, f"{summary['accelerator']}, {summary['guestKernel']} kernel"


def start_host(cpu):
    done = subprocess.run([ARM_HOST, "start", "--cpu", cpu, "--name", f"bench-{cpu}"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"script/arm-host start --cpu {cpu} failed:\n{done.stderr[-2000:]}")
    return done.stdout.strip()


def main():
    # A SIGTERM unwinds like Ctrl-C, so the emulated hosts and bare QEMUs are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser()
    parser.add_argument("--skip-emulated", action="store_true", help="only the ways of running this machine offers")
    arguments = parser.parse_args()
    disk = image()
    kit = compat_kernel()
    # vmtest adds panic=-1 to every guest kernel's command line (GuestLauncher.rebootingOnPanic).
    cmdline = disk["kernelCommandLine"] + " panic=-1"
    rows = []
    with tempfile.TemporaryDirectory(prefix="vmtest-bench-modes-") as workdir:
        def measure(label, bare, *flags, attempts=1):
            # QEMU's option syntax takes a comma as a separator: folders get plain names.
            folder = "".join(c if c.isalnum() else "-" for c in label)
            os.makedirs(os.path.join(workdir, folder), exist_ok=True)
            bare_seconds = bare(os.path.join(workdir, folder))
            ready, total, way = vmtest_run(workdir, folder + "-run", *flags, attempts=attempts)
            rows.append((label, way, bare_seconds, ready, total))
            if ready is not None:
                print(f"  {label}: bare {bare_seconds:.1f} s, vmtest ready {ready:.1f} s, whole run {total:.1f} s", file=sys.stderr)

        measure("here, TCG 32-bit", lambda d: time_to_shell(
            "qemu-system-arm", "cortex-a15", disk["kernel"], disk["initrd"], cmdline, disk["disk"], d))
        measure("here, TCG 64-bit", lambda d: time_to_shell(
            "qemu-system-aarch64", "cortex-a72", kit["kernel"], kit["initrd"], cmdline, disk["disk"], d), "--guest-kernel", "64")
        if not arguments.skip_emulated:
            for cpu, qemu_cpu, kernel, initrd in [
                ("cortex-a57", "host,aarch64=off", disk["kernel"], disk["initrd"]),
                ("cortex-a76", "host", kit["kernel"], kit["initrd"]),
            ]:
                uri = start_host(cpu)
                try:
                    label = f"emulated {cpu}, KVM"
                    measure(label, lambda d: bare_in_host(f"bench-{cpu}", qemu_cpu, kernel, initrd, cmdline, disk["disk"], d),
                            "--connect", uri, "--timeout", "1800", attempts=3)
                finally:
                    subprocess.run([ARM_HOST, "stop", f"bench-{cpu}"], capture_output=True)

    print(f"{'host and way':<28} {'vmtest chose':<24} {'bare to shell':>13} {'vmtest ready':>12} {'ratio':>6} {'whole run':>10}")
    for label, way, bare, ready, total in rows:
        if ready is None:
            print(f"{label:<28} {way:<24} {bare:>11.1f} s {'failed':>12} {'':>6} {'':>10}")
        else:
            print(f"{label:<28} {way:<24} {bare:>11.1f} s {ready:>10.1f} s {ready / bare:>6.2f} {total:>8.1f} s")
    print("ratio = vmtest's time to a shell (overlay + boot + ready) / bare QEMU's to the same shell; "
          "whole run adds the test, results and teardown. Emulated hosts are nested: slower than hardware.")


if __name__ == "__main__":
    main()
