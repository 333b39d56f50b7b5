#!/bin/bash
#
# it_mount_helper: mount-scripts/mount.frozenfs, called the way mount(8) calls a helper
# (mount.frozenfs SOURCE DIR -o OPTIONS) with an fstab-style option list, mounts a working
# store in the background; plain umount(8) unmounts it and the daemon drains and exits; a
# remount through the helper shows the data; a bad option is refused with a non-zero exit.
#
# Usage: it_mount_helper.sh FROZENFS_BINARY HELPER   (or env FROZENFS)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
HELPER=$(realpath -- "${2:-$(dirname -- "$0")/../../mount-scripts/mount.frozenfs}")
ft_init "$1"
ft_fake && ft_fail "it_mount_helper needs the real daemon"
[ -x "$HELPER" ] || ft_fail "mount helper $HELPER is missing or not executable"

T=$FT_TMP
B=$T/store
M=$T/mnt
mkdir -p "$B" "$M"
FT_MOUNTS+=("$M")

daemon_gone() { ! pgrep -f -- "frozenfs.* $B $M" >/dev/null; }

ft_check "fstab-style options through the helper: defaults,nofail,_netdev are dropped"
FROZENFS=$FROZENFS "$HELPER" "$B" "$M" -o defaults,nofail,_netdev,flush_interval_ms=200 ||
	ft_fail "mount.frozenfs exited with status $?"
mountpoint -q -- "$M" || ft_fail "helper returned but $M is not mounted"
ft_assert_eq "$(findmnt -no FSTYPE -- "$M")" "fuse.frozenfs" "mount type"
ft_ok "mounted by the helper as fuse.frozenfs"

ft_check "data written and fsynced survives umount(8) and a helper remount"
head -c 300000 /dev/urandom >"$T/data"
dd if="$T/data" of="$M/file" bs=64k conv=fsync status=none || ft_fail "dd into the mount"
umount -- "$M" || ft_fail "umount $M failed"
ft_wait_until 60 daemon_gone || ft_fail "frozenfs still running 60 s after umount"
[ -f "$B/file" ] || ft_fail "backing file missing after umount"
cmp -s "$T/data" "$B/file" || ft_fail "backing file differs from what was written"
FROZENFS=$FROZENFS "$HELPER" "$B" "$M" -o nofail || ft_fail "remount through the helper"
cmp -s "$T/data" "$M/file" || ft_fail "data differs after remount"
fusermount3 -u -- "$M" || ft_fail "fusermount3 -u"
ft_wait_until 60 daemon_gone || ft_fail "frozenfs still running after fusermount3 -u"
ft_ok "same data after umount + helper remount"

ft_check "a bad option is refused with a non-zero exit and nothing mounted"
if FROZENFS=$FROZENFS "$HELPER" "$B" "$M" -o chunk_size=3000 2>"$T/err"; then
	ft_fail "helper accepted chunk_size=3000"
fi
mountpoint -q -- "$M" && ft_fail "$M mounted despite a bad option"
grep -q '^frozenfs:' "$T/err" || ft_fail "no frozenfs: error line: $(cat "$T/err")"
ft_ok "refused: $(head -1 "$T/err")"

ft_done
