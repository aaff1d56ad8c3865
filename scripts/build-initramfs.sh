#!/usr/bin/env bash
# Builds DEST/initramfs.cpio.gz (default target/arm64) for the arm64 Linux
# guest: busybox-static with its applet links, images/linux/init as /init,
# disco-listen, fb-pattern, and the modules of images/linux/modules.list with their
# dependencies. Layout and /init's options: images/linux/README.md.
#
# Usage: scripts/build-initramfs.sh [DEST]
#
# Runs scripts/fetch-arm64.sh DEST first (a no-op once fetched). The archive
# is reproducible: sorted names, mtime 0, owner root, fixed modes, gzip -n,
# so two builds give identical bytes, and the file is only replaced when
# its bytes change. No root or fakeroot needed.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${1:-$ROOT/target/arm64}
SRC=$ROOT/images/linux
export LC_ALL=C
umask 022

die() { echo "build-initramfs: $*" >&2; exit 1; }

"$ROOT/scripts/fetch-arm64.sh" "$DEST"
for tool in aarch64-linux-gnu-gcc cpio gzip; do
  command -v "$tool" >/dev/null || die "$tool not found: run scripts/setup.sh"
done

KVER=$(cat "$DEST/kernel-version")
MD=$DEST/modules/$KVER
STAGE=$DEST/.initramfs
rm -rf "$STAGE"
mkdir -p "$STAGE"/{bin,dev,etc,proc,root,sys,tmp,usr,lib/modules/"$KVER"}
chmod 1777 "$STAGE/tmp"
# One directory for every program; the usual paths point at it.
ln -s bin "$STAGE/sbin"
ln -s ../bin "$STAGE/usr/bin"
ln -s ../bin "$STAGE/usr/sbin"

# ---- busybox and its applets ----
# The arm64 binary cannot run here to list its applets, so read the list
# from the binary: busybox keeps the sorted names as one NUL-separated
# string that starts "[\0[[\0" and ends with an empty name.
BB=$DEST/busybox
install -m 0755 "$BB" "$STAGE/bin/busybox"
off=$(grep -m1 -obUaP '\[\x00\[\[\x00' "$BB" | sed -n '1s/:.*//p')
[ -n "$off" ] || die "no applet list found in $BB"
dd if="$BB" bs=4096 iflag=skip_bytes,count_bytes skip="$off" count=16384 2>/dev/null |
  tr '\0' '\n' >"$STAGE/applets"
mapfile -t APPLETS < <(awk '/^$/ { exit } { print }' "$STAGE/applets")
rm "$STAGE/applets"
for need in sh mount insmod ip poweroff setsid cttyhack uname cat tr sleep; do
  printf '%s\n' "${APPLETS[@]}" | grep -qxF "$need" || die "busybox has no '$need' applet"
done
for a in "${APPLETS[@]}"; do
  [ "$a" = busybox ] || ln -s busybox "$STAGE/bin/$a"
done

# ---- our programs ----
install -m 0755 "$SRC/init" "$STAGE/init"
for prog in disco-listen fb-pattern; do
  aarch64-linux-gnu-gcc -static -O2 -Wall -Wextra -s -o "$STAGE/bin/$prog" "$SRC/$prog.c"
done

# ---- modules, dependencies first ----
# modules.dep's line for a module lists its whole dependency closure, to be
# loaded from the last one back (as modprobe does); /init insmods the
# files of /etc/modules.load in order.
mapfile -t WANT < <(sed 's/#.*//; s/[[:space:]]//g; /^$/d' "$SRC/modules.list")
declare -A LOADED=()
: >"$STAGE/etc/modules.load"
add_module() {
  [ -z "${LOADED[$1]:-}" ] || return 0
  LOADED[$1]=1
  install -D -m 0644 "$MD/$1" "$STAGE/lib/modules/$KVER/$1"
  echo "/lib/modules/$KVER/$1" >>"$STAGE/etc/modules.load"
}
for m in "${WANT[@]}"; do
  line=$(awk -v m="$m" '{ p = $1; sub(/:$/, "", p); sub(/.*\//, "", p); sub(/\.ko.*$/, "", p);
                          gsub(/-/, "_", p); if (p == m) { print; exit } }' "$MD/modules.dep")
  if [ -z "$line" ]; then
    grep -qE "/${m//_/[-_]}\.ko" "$MD/modules.builtin" || die "module $m not found (rerun fetch-arm64.sh)"
    continue   # built into the kernel
  fi
  read -r -a files <<<"${line/:/}"
  for ((i = ${#files[@]} - 1; i >= 1; i--)); do add_module "${files[i]}"; done
  add_module "${files[0]}"
done
# A modules.dep for what is here, so busybox modprobe works in the shell.
awk 'NR == FNR { keep[$0] = 1; next } { p = $1; sub(/:$/, "", p) } p in keep' \
  <(printf '%s\n' "${!LOADED[@]}") "$MD/modules.dep" >"$STAGE/lib/modules/$KVER/modules.dep"
install -m 0644 "$MD/modules.builtin" "$STAGE/lib/modules/$KVER/modules.builtin"

# ---- /etc ----
echo "root:x:0:0:root:/root:/bin/sh" >"$STAGE/etc/passwd"
echo "root:x:0:" >"$STAGE/etc/group"

# ---- archive ----
# One newc entry without data (format: the kernel's
# Documentation/driver-api/early-userspace/buffer-format.rst). GNU cpio can
# only archive a device node that exists, and making one needs root, so
# /dev/console (which the kernel opens for init's stdio before init runs)
# is written here, as a second archive the kernel unpacks after the first.
newc_entry() { # name mode rdevmajor rdevminor
  local nsize=$((${#1} + 1))
  printf '070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X' \
    0 "$2" 0 0 1 0 0 0 0 "$3" "$4" "$nsize" 0
  printf '%s\0' "$1"
  head -c $(((4 - (110 + nsize) % 4) % 4)) /dev/zero
}

find "$STAGE" -exec touch -h -d @0 {} +
OUT=$DEST/initramfs.cpio.gz
{
  (cd "$STAGE" && find . -mindepth 1 -printf '%P\n' | sort |
    cpio -o -H newc -R 0:0 --reproducible --quiet)
  newc_entry dev/console $((8#020600)) 5 1
  newc_entry 'TRAILER!!!' 0 0 0
} | gzip -9n >"$OUT.new"
rm -rf "$STAGE"

if cmp -s "$OUT.new" "$OUT"; then
  rm "$OUT.new"
  state=unchanged
else
  mv "$OUT.new" "$OUT"
  state=written
fi
echo "build-initramfs: $OUT $state, $(stat -c %s "$OUT") bytes," \
  "${#APPLETS[@]} applets, ${#LOADED[@]} modules, sha256 $(sha256sum "$OUT" | cut -c1-16)"
