#!/usr/bin/env python3
"""Builds the kernel and initramfs of an emulated aarch64 host (see script/arm-host).

Nothing is installed or run in emulation: Debian's arm64 packages are fetched with
`apt-get download` and unpacked with `dpkg-deb -x`. The initramfs holds the packages
named in ROOTS plus the shared libraries their ELF files need, found by reading each
file's DT_NEEDED entries and looking for the package that ships that soname among the
direct Depends of the packages already taken (dpkg-shlibdeps puts it there), so no
Contents index and no full dependency closure (hundreds of packages, systemd's among
them) are needed.

    build.py ensure CACHE   print CACHE/KEY, after building KEY/vmlinuz, initrd.img and
                            manifest.txt there unless they are already there

KEY hashes the candidate versions apt knows of the roots and the kernel, and these
files, so a second `start` with the same package lists downloads nothing.
"""
import hashlib
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ARCH = "arm64"
KERNEL_META = "linux-image-arm64"
# What the host needs, besides the libraries those need.
ROOTS = [
    "busybox-static",  # the shell, mount, insmod, ip, nc of /init
    "libvirt-daemon", "libvirt-daemon-driver-qemu", "libvirt-clients", "libvirt0",
    "qemu-system-arm",  # /usr/bin/qemu-system-aarch64 (and -arm)
    "qemu-system-data",  # firmware and keymaps QEMU loads by name
    "qemu-utils",  # qemu-img: libvirt makes the qcow2 volumes of vmtest's pool with it
    "ipxe-qemu",  # efi-virtio.rom: a nested guest's virtio-net-pci NIC
    "u-boot-qemu",
]
# Kernel modules the host loads (with what they depend on, from modules.dep):
# virtio-mmio NIC, virtio-9p shares of this machine's directories.
MODULES = ["virtio_mmio", "virtio_net", "9p", "9pnet_virtio"]
# Files whose contents shape the result: part of the key.
INPUTS = ["build.py", "init", "exec-handler"]
LIB_DIRS = ("lib/aarch64-linux-gnu", "usr/lib/aarch64-linux-gnu", "lib", "usr/lib")


def log(msg):
    print(f"script/arm-host: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(msg)
    sys.exit(1)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def apt_show(names):
    """Fields of apt's candidate version of each name:arm64 or name (Architecture: all) that
    exists; virtual names drop out. apt files arch-all packages under the native arch."""
    proc = subprocess.run(
        ["apt-cache", "show", "--no-all-versions"] + [f"{n}:{ARCH}" for n in names] + list(names),
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    out = {}
    for stanza in proc.stdout.split("\n\n"):
        fields, key = {}, None
        for line in stanza.splitlines():
            if line.startswith(" ") and key:
                fields[key] += " " + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" in fields and fields.get("Architecture") in (ARCH, "all"):
            out.setdefault(fields["Package"], fields)
    return out


def depends(fields):
    """Package names of Depends and Pre-Depends, first alternative of each."""
    names = []
    for field in ("Pre-Depends", "Depends"):
        for item in filter(None, (s.strip() for s in fields.get(field, "").split(","))):
            first = item.split("|")[0].strip()
            names.append(re.split(r"[\s(:]", first, maxsplit=1)[0])
    return names


def kernel_package(meta):
    deps = depends(meta)
    if not deps or not deps[0].startswith("linux-image-"):
        die(f"{KERNEL_META}:{ARCH} does not name a kernel package (Depends: {meta.get('Depends')})")
    return deps[0]


def resolve_roots():
    """apt's fields for the roots and the kernel; installs nothing."""
    shown = apt_show(ROOTS + [KERNEL_META])
    missing = [n for n in ROOTS + [KERNEL_META] if n not in shown]
    if missing:
        die(f"apt knows no {ARCH} package {', '.join(missing)}: is `dpkg --add-architecture {ARCH}` "
            "done and `apt-get update` run? (script/arm-host does both)")
    kernel = kernel_package(shown[KERNEL_META])
    shown.update(apt_show([kernel]))
    if kernel not in shown:
        die(f"apt knows no {ARCH} package {kernel}")
    return shown, kernel


def cache_key(shown, kernel):
    h = hashlib.sha256()
    for name in sorted(ROOTS + [kernel]):
        h.update(f"{name}={shown[name]['Version']}\n".encode())
    for name in INPUTS:
        with open(os.path.join(HERE, name), "rb") as f:
            h.update(hashlib.sha256(f.read()).digest())
    return h.hexdigest()[:16]


def deb_path(debs, fields):
    """Where apt-get download puts a package: name_version_arch.deb with ':' as %3a."""
    version = fields["Version"].replace(":", "%3a")
    return os.path.join(debs, f"{fields['Package']}_{version}_{fields['Architecture']}.deb")


def download(debs, fields_list):
    todo = [f for f in fields_list if not os.path.exists(deb_path(debs, f))]
    if not todo:
        return
    log(f"downloading {len(todo)} {ARCH} package(s): {' '.join(f['Package'] for f in todo)}")
    # As root, apt's sandbox user cannot write to root's home; it downloads unsandboxed.
    proc = subprocess.run(
        ["apt-get", "download", "-q", "-o", "APT::Sandbox::User=root"]
        + [f"{f['Package']}:{f['Architecture']}={f['Version']}" for f in todo],
        cwd=debs, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    absent = [f["Package"] for f in todo if not os.path.exists(deb_path(debs, f))]
    if proc.returncode != 0 or absent:
        die(f"apt-get download failed for {' '.join(absent) or 'some packages'}:\n{proc.stderr.strip()}")


def unpack(deb, into):
    """dpkg-deb -x, with /bin, /sbin and /lib moved under /usr (the initramfs is merged-/usr)."""
    if os.path.isdir(into):
        return
    tmp = into + ".part"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    run(["dpkg-deb", "-x", deb, tmp])
    for top in ("bin", "sbin", "lib"):
        src = os.path.join(tmp, top)
        if os.path.isdir(src) and not os.path.islink(src):
            dst = os.path.join(tmp, "usr", top)
            os.makedirs(dst, exist_ok=True)
            run(["cp", "-a", src + "/.", dst + "/"])
            shutil.rmtree(src)
    os.rename(tmp, into)


def elf_dynamic(path):
    """(needed sonames, own soname) of a 64-bit little-endian ELF file, or None."""
    try:
        with open(path, "rb") as f:
            head = f.read(64)
            if len(head) < 64 or head[:4] != b"\x7fELF" or head[4] != 2 or head[5] != 1:
                return None
            phoff, = struct.unpack_from("<Q", head, 0x20)
            phentsize, phnum = struct.unpack_from("<HH", head, 0x36)
            f.seek(phoff)
            phdrs = [struct.unpack_from("<IIQQQQQQ", f.read(phentsize)) for _ in range(phnum)]
            loads = [(p[3], p[2], p[5]) for p in phdrs if p[0] == 1]  # vaddr, offset, filesz
            dyn = [p for p in phdrs if p[0] == 2]
            if not dyn:
                return None
            f.seek(dyn[0][2])
            raw = f.read(dyn[0][5])
            entries = [struct.unpack_from("<qQ", raw, i) for i in range(0, len(raw) - 15, 16)]
            strtab = next((v for t, v in entries if t == 5), None)
            if strtab is None:
                return None
            off = next((o + strtab - va for va, o, sz in loads if va <= strtab < va + sz), None)
            if off is None:
                return None

            def string(at):
                f.seek(off + at)
                return f.read(256).split(b"\0", 1)[0].decode()

            needed = [string(v) for t, v in entries if t == 1]
            soname = next((string(v) for t, v in entries if t == 14), None)
            return needed, soname
    except (OSError, struct.error, UnicodeDecodeError):
        return None


def scan(tree):
    """Sonames the package's ELF files need, and the library names it ships."""
    needed, provided = set(), set()
    for root, _, files in os.walk(tree):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(root, tree)
            if rel.startswith(("usr/lib", "lib")) and (".so" in name):
                provided.add(name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            dyn = elf_dynamic(path)
            if dyn:
                needed.update(dyn[0])
                if dyn[1]:
                    provided.add(dyn[1])
    return needed, provided


def closure(debs, trees, shown):
    """The roots plus every package shipping a library they (transitively) need."""
    taken = {n: shown[n] for n in ROOTS}
    info = {}  # package -> (needed, provided)
    known = dict(shown)

    def prepare(fields_list):
        download(debs, fields_list)
        for f in fields_list:
            name = f["Package"]
            if name not in info:
                tree = os.path.join(trees, f"{name}_{f['Version']}")
                unpack(deb_path(debs, f), tree)
                info[name] = scan(tree)

    prepare(list(taken.values()))
    for _ in range(30):
        provided = set().union(*(info[n][1] for n in taken))
        unresolved = set().union(*(info[n][0] for n in taken)) - provided
        if not unresolved:
            break
        wanted = {d for n in taken for d in depends(taken[n])} - set(taken)
        unknown = [d for d in wanted if d not in known]
        if unknown:
            known.update(apt_show(unknown))
        candidates = [known[d] for d in sorted(wanted) if d in known]
        prepare(candidates)
        new = {f["Package"]: f for f in candidates if info[f["Package"]][1] & unresolved}
        if not new:
            log(f"warning: no package found for {' '.join(sorted(unresolved))} (continuing without)")
            break
        taken.update(new)
    return taken


def kernel_files(debs, trees, shown, kernel, root):
    """vmlinuz, and the modules MODULES need (in load order) copied into root."""
    f = shown[kernel]
    download(debs, [f])
    tree = os.path.join(trees, f"{kernel}_{f['Version']}")
    unpack(deb_path(debs, f), tree)
    boots = [n for n in os.listdir(os.path.join(tree, "boot")) if n.startswith("vmlinuz-")]
    if len(boots) != 1:
        die(f"{kernel} ships {boots or 'no'} vmlinuz-*, expected one")
    release = boots[0][len("vmlinuz-"):]
    moddir = os.path.join(tree, "usr/lib/modules", release)
    if not os.path.exists(os.path.join(moddir, "modules.dep")):
        # The package leaves modules.dep to its postinst; kmod's depmod reads any arch.
        run(["depmod", "-b", os.path.join(tree, "usr"), release])
    deps = {}
    with open(os.path.join(moddir, "modules.dep")) as fh:
        for line in fh:
            mod, _, rest = line.partition(":")
            deps[mod] = rest.split()
    by_name = {re.sub(r"\.ko(\.[a-z]+)?$", "", os.path.basename(m)).replace("-", "_"): m for m in deps}
    order = []

    def visit(path):
        for d in reversed(deps[path]):
            visit(d)
        if path not in order:
            order.append(path)

    for name in MODULES:
        if name not in by_name:
            with open(os.path.join(moddir, "modules.builtin")) as fh:
                if any(os.path.basename(l.strip()).startswith(name + ".ko") for l in fh):
                    continue
            die(f"{kernel} has no module {name}")
        visit(by_name[name])
    dest = os.path.join(root, "usr/lib/modules", release)
    os.makedirs(dest, exist_ok=True)
    listed = []
    for path in order:
        src = os.path.join(moddir, path)
        base = os.path.basename(path)
        if base.endswith(".xz"):
            run(["sh", "-c", 'xz -dc "$0" >"$1"', src, os.path.join(dest, base[:-3])])
            base = base[:-3]
        elif base.endswith(".zst"):
            run(["zstd", "-q", "-d", "-f", src, "-o", os.path.join(dest, base[:-4])])
            base = base[:-4]
        else:
            shutil.copy(src, os.path.join(dest, base))
        listed.append(base)
    with open(os.path.join(dest, "load-order"), "w") as fh:
        fh.write("".join(b + "\n" for b in listed))
    return os.path.join(tree, "boot", boots[0]), release, listed


ETC_FILES = {
    # libvirtd looks these users up before it reads qemu.conf.
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\nlibvirt-qemu:x:64055:993::/var/lib/libvirt:/usr/sbin/nologin\n",
    "etc/group": "root:x:0:\nkvm:x:993:\nlibvirt:x:994:\nlibvirt-qemu:x:64055:\n",
    "etc/hostname": "arm-host\n",
    "etc/hosts": "127.0.0.1 localhost arm-host\n",
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
    # Reached only through the host's 127.0.0.1 forward; unauthenticated, for tests only.
    "etc/libvirt/libvirtd.conf": (
        'listen_tls = 0\nlisten_tcp = 1\nlisten_addr = "0.0.0.0"\nauth_tcp = "none"\n'
        'log_outputs = "3:file:/var/log/libvirt/libvirtd.log"\n'),
    # The same keys as script/libvirtd: QEMU as root, no labelling, no virtlogd, no
    # private /dev, no cgroups of libvirt's.
    "etc/libvirt/qemu.conf": (
        'user = "root"\ngroup = "root"\ndynamic_ownership = 0\nremember_owner = 0\n'
        'security_driver = "none"\nstdio_handler = "file"\nnamespaces = []\ncgroup_controllers = []\n'),
}


def build(cache, out, shown, kernel):
    debs = os.path.join(cache, "debs")
    trees = os.path.join(cache, "trees")
    os.makedirs(debs, exist_ok=True)
    os.makedirs(trees, exist_ok=True)
    taken = closure(debs, trees, shown)
    work = tempfile.mkdtemp(prefix="arm-host-", dir=cache)
    try:
        root = os.path.join(work, "root")
        os.makedirs(os.path.join(root, "usr"))
        for top in ("bin", "sbin", "lib"):
            os.makedirs(os.path.join(root, "usr", top), exist_ok=True)
            os.symlink(f"usr/{top}", os.path.join(root, top))
        for name, f in sorted(taken.items()):
            run(["cp", "-a", os.path.join(trees, f"{name}_{f['Version']}") + "/.", root + "/"])
        vmlinuz, release, modules = kernel_files(debs, trees, shown, kernel, root)
        for rel, text in ETC_FILES.items():
            path = os.path.join(root, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as fh:
                fh.write(text)
        for d in ("proc", "sys", "dev", "run", "tmp", "root", "var/lib/libvirt", "var/log/libvirt",
                  "var/cache/libvirt", "var/run"):
            os.makedirs(os.path.join(root, d), exist_ok=True)
        os.chmod(os.path.join(root, "tmp"), 0o1777)
        shutil.copy(os.path.join(HERE, "init"), os.path.join(root, "init"))
        os.chmod(os.path.join(root, "init"), 0o755)
        shutil.copy(os.path.join(HERE, "exec-handler"), os.path.join(root, "usr/sbin/arm-host-exec"))
        os.chmod(os.path.join(root, "usr/sbin/arm-host-exec"), 0o755)
        for doc in ("usr/share/doc", "usr/share/man", "usr/share/locale", "usr/share/info"):
            shutil.rmtree(os.path.join(root, doc), ignore_errors=True)
        tmp_out = out + ".part"
        shutil.rmtree(tmp_out, ignore_errors=True)
        os.makedirs(tmp_out)
        log(f"packing the initramfs ({len(taken)} packages)")
        run(["sh", "-c", 'cd "$0" && find . -mindepth 1 | LC_ALL=C sort | cpio -o -H newc -R 0:0 --quiet | gzip -1 >"$1"',
             root, os.path.join(tmp_out, "initrd.img")])
        shutil.copy(vmlinuz, os.path.join(tmp_out, "vmlinuz"))
        with open(os.path.join(tmp_out, "manifest.txt"), "w") as fh:
            fh.write(f"kernel {kernel} {shown[kernel]['Version']} ({release})\n")
            fh.write(f"modules {' '.join(modules)}\n")
            for name, f in sorted(taken.items()):
                fh.write(f"package {name} {f['Version']}{' (root)' if name in ROOTS else ''}\n")
        shutil.rmtree(out, ignore_errors=True)
        os.rename(tmp_out, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    # The unpacked trees (about 560 MB) only speed up a rebuild; the debs (about 100 MB)
    # stay. Builds of other keys are stale: a running host has read its files already.
    shutil.rmtree(trees, ignore_errors=True)
    for name in os.listdir(cache):
        path = os.path.join(cache, name)
        if re.fullmatch(r"[0-9a-f]{16}", name) and path != out and os.path.isdir(path):
            log(f"removing the stale build {path}")
            shutil.rmtree(path, ignore_errors=True)


def main(argv):
    if len(argv) == 3 and argv[1] == "ensure":
        cache = argv[2]
        shown, kernel = resolve_roots()
        out = os.path.join(cache, cache_key(shown, kernel))
        if not os.path.exists(os.path.join(out, "manifest.txt")):
            log(f"building the host's kernel and initramfs into {out}")
            build(cache, out, shown, kernel)
        print(out)
    else:
        die("usage: build.py ensure CACHE   (prints the directory holding vmlinuz and initrd.img)")


if __name__ == "__main__":
    main(sys.argv)
