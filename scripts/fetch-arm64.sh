#!/usr/bin/env bash
# Fetches the arm64 guest inputs of the aarch64-virt board from Debian's
# archive, unmodified Debian binaries, into DEST (default target/arm64):
#
#   u-boot.bin        u-boot-qemu's qemu_arm64 build (-bios / flash image)
#   Image             the kernel as an uncompressed arm64 Image
#   kernel-version    its `uname -r`, e.g. 6.1.0-56-arm64
#   config            the kernel's build configuration (what is built in)
#   modules/<ver>/    the modules of images/linux/modules.list and their
#                     dependencies, with a modules.dep for just those
#   busybox           busybox-static's binary
#   versions.txt      package and version of each item (written last)
#
# Usage: scripts/fetch-arm64.sh [DEST]
#
# The packages are downloaded with the system's apt sources but private
# package lists (DEST/.work, removed afterwards) and APT::Architecture=arm64,
# so the system never gets a foreign architecture added. The kernel is the
# one the linux-image-arm64 metapackage currently depends on, in its
# -unsigned variant (same Image, no signed-package indirection). Cached:
# when every output is present nothing is fetched and no network is used.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DEST=${1:-$ROOT/target/arm64}
MODLIST=$ROOT/images/linux/modules.list
export PATH=$PATH:/usr/sbin:/sbin   # depmod lives in sbin, off a user's PATH
export LC_ALL=C

die() { echo "fetch-arm64: $*" >&2; exit 1; }

mapfile -t WANT < <(sed 's/#.*//; s/[[:space:]]//g; /^$/d' "$MODLIST")

# The line of modules.dep ($1) for module name $2 ("path: dep dep ..."); a
# file name's '-' is '_' in its module name (virtio-rng.ko is virtio_rng).
dep_line() {
  awk -v m="$2" '{ p = $1; sub(/:$/, "", p); sub(/.*\//, "", p); sub(/\.ko.*$/, "", p);
                   gsub(/-/, "_", p); if (p == m) { print; exit } }' "$1"
}
is_builtin() {
  awk -v m="$2" '{ p = $0; sub(/.*\//, "", p); sub(/\.ko.*$/, "", p); gsub(/-/, "_", p);
                   if (p == m) { f = 1; exit } } END { exit !f }' "$1"
}

# Every output present, with every wanted module? versions.txt is written
# last, so a run that stopped half-way is redone.
complete() {
  local f ver m
  for f in versions.txt u-boot.bin Image kernel-version busybox; do
    [ -s "$DEST/$f" ] || return 1
  done
  ver=$(cat "$DEST/kernel-version")
  [ -s "$DEST/modules/$ver/modules.dep" ] || return 1
  for m in "${WANT[@]}"; do
    [ -n "$(dep_line "$DEST/modules/$ver/modules.dep" "$m")" ] ||
      is_builtin "$DEST/modules/$ver/modules.builtin" "$m" || return 1
  done
}

if complete; then
  echo "fetch-arm64: $DEST is complete (kernel $(cat "$DEST/kernel-version")), nothing to fetch"
  exit 0
fi

WORK=$DEST/.work
rm -rf "$WORK"
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/x" "$WORK/out"

# Private state for apt; the system's sources and proxy settings still
# apply. The #clear lines drop the system's post-update hooks (appstream,
# packagekit, docker-clean), which are about the system's own lists.
cat >"$WORK/apt.conf" <<EOF
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
Dir::State::Lists "$WORK/lists";
Dir::State::status "/dev/null";
Dir::Cache "$WORK/cache";
DPkg::Lock::Timeout "600";
APT::Sandbox::User "root";
Acquire::IndexTargets::deb::DEP-11::DefaultEnabled "false";
#clear APT::Update::Post-Invoke;
#clear APT::Update::Post-Invoke-Success;
EOF
apt_get() { apt-get -c "$WORK/apt.conf" -o DPkg::Lock::Timeout=600 "$@"; }
apt_cache() { apt-cache -c "$WORK/apt.conf" "$@"; }

# apt-get update exits non-zero when an index fails to download; an
# unreachable archive can still leave it "successful" with no lists, so
# check that the metapackage is known too.
if ! apt_get update >"$WORK/apt.log" 2>&1 ||
   ! apt_cache show --no-all-versions linux-image-arm64 >"$WORK/meta" 2>>"$WORK/apt.log"; then
  die "cannot reach Debian's package archive (apt-get update failed; details in $WORK/apt.log)"
fi

# linux-image-arm64 Depends: linux-image-<abi>-arm64 (= <version>)
KPKG=$(sed -n 's/^Depends: \(linux-image-[^ ,]*-arm64\).*/\1/p' "$WORK/meta" | head -1)
[ -n "$KPKG" ] || die "cannot find the kernel linux-image-arm64 depends on"
KPKG=$KPKG-unsigned

(cd "$WORK" && apt_get download "$KPKG" busybox-static u-boot-qemu) >>"$WORK/apt.log" 2>&1 ||
  die "downloading $KPKG busybox-static u-boot-qemu failed (details in $WORK/apt.log)"

declare -A VERSION
for deb in "$WORK"/*.deb; do
  pkg=$(dpkg-deb -f "$deb" Package)
  VERSION[$pkg]=$(dpkg-deb -f "$deb" Version)
  dpkg -x "$deb" "$WORK/x"
done

X=$WORK/x
OUT=$WORK/out

# ---- U-Boot ----
cp "$X/usr/lib/u-boot/qemu_arm64/u-boot.bin" "$OUT/u-boot.bin"

# ---- kernel ----
set -- "$X"/boot/vmlinuz-*
if [ $# -ne 1 ] || [ ! -f "$1" ]; then die "expected one boot/vmlinuz-* in $KPKG"; fi
VMLINUZ=$1
KVER=${VMLINUZ##*/vmlinuz-}

# Hex of $3 bytes at offset $2 of file $1.
hex_at() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }
# An arm64 Image has the magic "ARM\x64" at 0x38 (arm64/booting.rst).
is_image() { [ "$(hex_at "$1" 56 4)" = 41524d64 ]; }

# Debian's vmlinuz may be a plain Image (with the EFI stub's MZ header, as
# bookworm's 6.1 is), a gzip-compressed Image, or an EFI zboot image ("zimg"
# at 4; payload offset and size at 8 and 12; the compressor's name at 24, see
# drivers/firmware/efi/libstub/zboot-header.S). Bootloaders other than EFI
# need the plain Image.
if is_image "$VMLINUZ"; then
  cp "$VMLINUZ" "$OUT/Image"
  KFORM="plain Image"
elif [ "$(hex_at "$VMLINUZ" 0 2)" = 1f8b ]; then
  gzip -dc "$VMLINUZ" >"$OUT/Image"
  KFORM="gzip-compressed Image"
elif [ "$(hex_at "$VMLINUZ" 4 4)" = 7a696d67 ]; then
  off=$(od -An -tu4 -j 8 -N 4 "$VMLINUZ" | tr -d ' ')
  size=$(od -An -tu4 -j 12 -N 4 "$VMLINUZ" | tr -d ' ')
  comp=$(dd if="$VMLINUZ" bs=1 skip=24 count=32 2>/dev/null | tr -d '\0')
  case $comp in
    gzip) dec=(gzip -dc) ;;
    zstd*) dec=(zstd -qdc) ;;
    xzkern | xz) dec=(xz -dc) ;;
    lzma) dec=(xz --format=lzma -dc) ;;
    *) die "EFI zboot kernel compressed with '$comp', which this script cannot unpack" ;;
  esac
  tail -c +$((off + 1)) "$VMLINUZ" | head -c "$size" | "${dec[@]}" >"$OUT/Image"
  KFORM="EFI zboot image ($comp payload)"
else
  die "$VMLINUZ is neither an arm64 Image, gzip nor EFI zboot"
fi
is_image "$OUT/Image" || die "the kernel unpacked from $VMLINUZ has no arm64 Image magic"
echo "$KVER" >"$OUT/kernel-version"
cp "$X/boot/config-$KVER" "$OUT/config"

# ---- modules ----
# The package has no modules.dep (its postinst runs depmod): make one the
# same way, then keep the wanted modules and everything their lines list
# (depmod lists a module's whole dependency closure on its line). No -F:
# the package's System.map is a placeholder (the real one is in -dbg).
command -v depmod >/dev/null || die "depmod not found: install kmod (scripts/setup.sh)"
depmod -b "$X" "$KVER"
MD=$X/lib/modules/$KVER
OM=$OUT/modules/$KVER
mkdir -p "$OM"
declare -A KEEP=()
nbuiltin=0
for m in "${WANT[@]}"; do
  line=$(dep_line "$MD/modules.dep" "$m")
  if [ -z "$line" ]; then
    is_builtin "$MD/modules.builtin" "$m" || die "module $m is neither in $KPKG nor built in"
    nbuiltin=$((nbuiltin + 1))
    continue
  fi
  for f in ${line/:/}; do KEEP[$f]=1; done
done
for f in "${!KEEP[@]}"; do
  mkdir -p "$OM/${f%/*}"
  cp "$MD/$f" "$OM/$f"
done
# modules.dep lines of the kept modules, in depmod's order.
awk 'NR == FNR { keep[$0] = 1; next } { p = $1; sub(/:$/, "", p) } p in keep' \
  <(printf '%s\n' "${!KEEP[@]}") "$MD/modules.dep" >"$OM/modules.dep"
cp "$MD/modules.builtin" "$OM/modules.builtin"

# ---- busybox ----
cp "$X/bin/busybox" "$OUT/busybox"

# ---- install into DEST, versions.txt last ----
rm -rf "${DEST:?}/modules"
mv "$OUT"/* "$DEST"/
{
  echo "u-boot-qemu ${VERSION[u-boot-qemu]}"
  echo "$KPKG ${VERSION[$KPKG]}"
  echo "busybox-static ${VERSION[busybox-static]}"
} >"$DEST/versions.txt"
rm -rf "$WORK"

size() { stat -c %s "$1"; }
echo "fetch-arm64: u-boot.bin      u-boot-qemu ${VERSION[u-boot-qemu]}, $(size "$DEST/u-boot.bin") bytes"
echo "fetch-arm64: Image           $KPKG ${VERSION[$KPKG]}, $(size "$DEST/Image") bytes (vmlinuz was a $KFORM)"
echo "fetch-arm64: kernel-version  $KVER"
echo "fetch-arm64: modules         ${#KEEP[@]} files for ${#WANT[@]} wanted modules ($nbuiltin built in) in modules/$KVER"
echo "fetch-arm64: busybox         busybox-static ${VERSION[busybox-static]}, $(size "$DEST/busybox") bytes"
