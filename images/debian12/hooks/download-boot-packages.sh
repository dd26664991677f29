#!/bin/sh
# mmdebstrap --customize-hook, run on the host: downloads (does not install) the kernel
# package and busybox-static with the chroot's own apt configuration, so the guest
# architecture, suite and mirror are the ones of the build. DebianImageBuilder unpacks
# them natively. VMTEST_KERNEL_PACKAGE may be a meta package (linux-image-armmp-lpae);
# its linux-image-* dependency is what gets downloaded.
set -eu
: "${VMTEST_KERNEL_PACKAGE:?}" "${VMTEST_DOWNLOAD_DIR:?}"
export APT_CONFIG="$MMDEBSTRAP_APT_CONFIG"
kernel=$(apt-cache depends "$VMTEST_KERNEL_PACKAGE" \
    | sed -n 's/^ *Depends: \(linux-image-[^ :]*\).*/\1/p' | head -n 1)
[ -n "$kernel" ] || kernel="$VMTEST_KERNEL_PACKAGE"
mkdir -p "$VMTEST_DOWNLOAD_DIR"
cd "$VMTEST_DOWNLOAD_DIR"
apt-get download -o APT::Sandbox::User=root "$kernel" busybox-static
