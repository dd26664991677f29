"""Bare QEMU started by hand the way vmtest's domain starts it, timed to the root shell on
the virtio console: what vmtest's own boot is measured against (bench/boot-to-ready.py,
bench/arm-modes.py)."""
import os, signal, socket, subprocess, sys, time


# The same devices vmtest's domain gives the guest: disk, virtio console, RNG, serial log.
def qemu_arguments(emulator, machine, accel, cpu, kernel, initrd, cmdline, overlay, console, workdir):
    return [emulator, "-M", machine, "-accel", accel, "-cpu", cpu, "-smp", "2", "-m", "1024", "-display", "none",
            "-kernel", kernel, "-initrd", initrd, "-append", cmdline,
            "-drive", f"if=none,file={overlay},id=d,format=qcow2,cache=unsafe", "-device", "virtio-blk-device,drive=d",
            "-device", "virtio-serial-device", "-chardev", console, "-device", "virtconsole,chardev=c",
            "-object", "rng-random,id=r,filename=/dev/urandom", "-device", "virtio-rng-device,rng=r",
            "-serial", f"file:{os.path.join(workdir, 'console.log')}", "-monitor", "none", "-nic", "none"]


def time_to_shell(emulator, cpu, kernel, initrd, cmdline, disk, workdir):
    overlay = os.path.join(workdir, "overlay.qcow2")
    sock = os.path.join(workdir, "hvc0.sock")
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", disk, overlay], check=True)
    start = time.monotonic()
    qemu = subprocess.Popen(
        qemu_arguments(emulator, "virt", "tcg", cpu, kernel, initrd, cmdline, overlay,
                       f"socket,id=c,path={sock},server=on,wait=off", workdir),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        while not os.path.exists(sock):
            if qemu.poll() is not None:
                sys.exit(f"bare QEMU exited with {qemu.returncode} before opening its console")
            time.sleep(0.01)
        conn = socket.socket(socket.AF_UNIX)
        conn.connect(sock)
        conn.settimeout(0.5)
        marker, seen, last = b"\x1ebench-ready\x1e", b"", 0.0
        while marker not in seen:
            if time.monotonic() - last > 2:  # the same probe cadence vmtest uses
                conn.sendall(b"\nprintf '\\036bench-ready\\036\\n'\n")
                last = time.monotonic()
            try:
                seen = (seen + conn.recv(65536))[-4096:]
            except socket.timeout:
                pass
            if qemu.poll() is not None:
                sys.exit(f"bare QEMU exited with {qemu.returncode} before its shell answered")
            if time.monotonic() - start > 900:
                sys.exit("bare QEMU: no shell within 900 s")
        return time.monotonic() - start
    finally:
        qemu.send_signal(signal.SIGKILL)
        qemu.wait()


