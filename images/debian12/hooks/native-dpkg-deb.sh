#!/bin/sh
# mmdebstrap --extract-hook and --essential-hook, run on the host. Under qemu-user emulation
# dpkg spends most of its unpacking in two helpers it runs for every package: dpkg-deb
# (decompressing the package's data and control, 0.1-0.3 s a package emulated) and
# dpkg-split (30 ms). The host's dpkg is of the same Debian release and their output (a tar
# stream, a control folder) does not depend on the architecture, so the host's binaries run
# in their place, natively, with the host's loader and libraries copied into the root.
#
# As an extract hook (before dpkg installs the essential packages) it copies them in and
# diverts each tool (a local dpkg diversion, as in essential-divert.sh), so the guest's dpkg
# package unpacks its own copy beside it. As an essential hook (after mmdebstrap's merged-usr
# hook installed usr-is-merged, whose postinst removes a /lib64 link on an architecture
# without one) it puts back what went missing. Every file, link and folder it makes is
# listed in $VMTEST_NATIVE_LIST; DebianImageBuilder removes them and puts the guest's tools
# back once mmdebstrap is done. Nothing happens when the guest's architecture is the host's
# (nothing emulated) or when a file the host's tools need would replace one of the guest's.
set -eu
root="$1"
: "${VMTEST_ARCHITECTURE:?}" "${VMTEST_NATIVE_TOOLS:?}" "${VMTEST_NATIVE_LIST:?}"
[ "$(dpkg --print-architecture)" != "$VMTEST_ARCHITECTURE" ] || exit 0
list="$VMTEST_NATIVE_LIST"
if [ "${MMDEBSTRAP_HOOK:-}" = extract ]; then
    rm -f "$list" # from a try before (a mirror caught mid-sync), whose root is gone
elif [ ! -e "$list" ]; then
    exit 0 # the extract hook left the tools emulated
fi

# The loader and libraries, as the host's loader resolves them (absolute paths).
needed=$(ldd $VMTEST_NATIVE_TOOLS | awk '/=> \// { print $3 } /^\t\// { print $1 }' | sort -u)
stay_emulated() {
    [ "${MMDEBSTRAP_HOOK:-}" = extract ] || { echo "native-dpkg-deb: $1" >&2; exit 1; }
    echo "native-dpkg-deb: $1; dpkg-deb stays emulated" >&2
    exit 0
}
for path in $needed $VMTEST_NATIVE_TOOLS; do
    [ -e "$path" ] || stay_emulated "$path not found on the host"
done
for path in $needed; do
    if { [ -e "$root$path" ] || [ -L "$root$path" ]; } && ! cmp -s "$path" "$root$path"; then
        stay_emulated "the root has its own $path"
    fi
done
if [ "${MMDEBSTRAP_HOOK:-}" = extract ]; then
    for path in $VMTEST_NATIVE_TOOLS; do
        [ -e "$root$path" ] || stay_emulated "the root has no $path"
    done
fi

touch "$list"
for path in $needed; do
    [ ! -e "$root$path" ] || continue
    directory=$(dirname "$path")
    # Folders to make, outermost first (removed innermost first).
    missing=
    while [ ! -e "$root$directory" ]; do
        missing="$directory $missing"
        directory=$(dirname "$directory")
    done
    for directory in $missing; do
        if [ "$(dirname "$directory")" = / ] && [ -L "$root/lib" ]; then
            # A merged /usr: a top-level folder (the host's /lib64) is a link into /usr, as
            # usr-is-merged insists.
            mkdir -p "$root/usr$directory"
            echo "/usr$directory" >> "$list"
            ln -s "usr$directory" "$root$directory"
        else
            mkdir "$root$directory"
        fi
        echo "$directory" >> "$list"
    done
    cp -L "$path" "$root$path"
    echo "$path" >> "$list"
done
[ "${MMDEBSTRAP_HOOK:-}" = extract ] || exit 0
for path in $VMTEST_NATIVE_TOOLS; do
    printf '%s\n%s.distrib\n:\n' "$path" "$path" >> "$root/var/lib/dpkg/diversions"
    mv "$root$path" "$root$path.distrib"
    cp "$path" "$root$path"
done
