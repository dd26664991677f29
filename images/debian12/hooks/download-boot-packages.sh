#!/bin/sh
# mmdebstrap --customize-hook, run on the host: downloads (does not install) the kernel
# package and busybox-static with the chroot's own apt configuration, so the guest
# architecture, suite and mirror are the ones of the build. DebianImageBuilder installs
# the kernel with the host's dpkg and unpacks busybox natively. VMTEST_KERNEL_PACKAGE may
# be a meta package (linux-image-armmp-lpae): it is downloaded with the linux-image-*
# package it depends on, so the guest's apt upgrades the kernel as Debian's does.
set -eu
: "${VMTEST_KERNEL_PACKAGE:?}" "${VMTEST_DOWNLOAD_DIR:?}"
export APT_CONFIG="$MMDEBSTRAP_APT_CONFIG"
kernel=$(apt-cache depends "$VMTEST_KERNEL_PACKAGE" \
    | sed -n 's/^ *Depends: \(linux-image-[^ :]*\).*/\1/p' | head -n 1)
[ -n "$kernel" ] || kernel="$VMTEST_KERNEL_PACKAGE"
mkdir -p "$VMTEST_DOWNLOAD_DIR"
cd "$VMTEST_DOWNLOAD_DIR"
meta=
[ "$kernel" = "$VMTEST_KERNEL_PACKAGE" ] || meta="$VMTEST_KERNEL_PACKAGE"
apt-get download -o APT::Sandbox::User=root $meta "$kernel" busybox-static
