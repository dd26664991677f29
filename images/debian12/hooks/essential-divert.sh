#!/bin/sh
# mmdebstrap --essential-hook, run on the host after the essential packages are installed
# and before the rest. Maintainer scripts run under qemu-user emulation, where a few of them
# cost a minute for work the host does natively in a second afterwards:
#   update-ca-certificates  (~70 s: a shell loop over 140 certificates, openssl rehash)
#   py3compile / py3clean   (~1.5 s per Python package; .pyc files are arch-independent)
#   locale-gen              (nothing is selected; C.UTF-8 is built into glibc)
#   /usr/share/i18n/SUPPORTED (~20 s: the locales postinst greps /etc/locale.gen once for
#                           each of its 500 lines; the stub lists only C.UTF-8)
# Each is diverted (a local dpkg diversion, written straight into dpkg's database, which
# is plain text) and replaced by a no-op; DebianImageBuilder undoes the diversions and
# does the work natively once mmdebstrap is done. The list of diverted paths is
# VMTEST_DIVERT (space separated).
set -eu
root="$1"
for path in ${VMTEST_DIVERT:-}; do
    printf '%s\n%s.distrib\n:\n' "$path" "$path" >> "$root/var/lib/dpkg/diversions"
    mkdir -p "$root$(dirname "$path")"
    if [ -e "$root$path" ] || [ -L "$root$path" ]; then
        mv "$root$path" "$root$path.distrib"
    fi
    case "$path" in
    */SUPPORTED)
        printf 'C.UTF-8 UTF-8\n' > "$root$path"
        chmod 0644 "$root$path" ;;
    *)
        printf '#!/bin/sh\n# vmtest build-time no-op (diverted by vmtest; removed after the build)\nexit 0\n' > "$root$path"
        chmod 0755 "$root$path" ;;
    esac
done
