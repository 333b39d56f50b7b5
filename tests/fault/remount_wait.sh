#!/bin/bash
#
# remount_wait: umount(8) returns before the daemon has written out what it holds (DURABILITY.md
# fact 3), and the daemon keeps the store locked until then. A mount of the same store in that
# window waits for it, with one line saying so, instead of refusing ("already mounted"), and
# then sees all the data. A store that is mounted and served is still refused (it_refusals).
#
# The drain is made slow on purpose: the fault shim delays every sync of a regular file 3 s.
#
# Usage: remount_wait.sh FROZENFS_BINARY   (env FT_SHIM: libfrozenfs_fault_shim.so)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"

T=$FT_TMP
S=$T/store
M=$T/mnt
mkdir -p "$S" "$M"
head -c $((3 << 20)) /dev/urandom >"$T/data"

ft_check "a mount right after an unmount waits for the previous daemon's write-out"
mount_fs_faults 'sync@reg:1+:delay3000' "$S" "$M" flush_interval_ms=60000,nosync_on_close
pid1=${FT_PID[$M]}
cp "$T/data" "$M/f"	# queued: no close sync, a 60 s flush interval
fusermount3 -u -- "$M" || ft_fail "fusermount3 -u failed"
ft_alive "$pid1" || ft_fail "the first daemon exited before the test could mount again"

"$FROZENFS" -f "$S" "$M" >"$T/d2.log" 2>"$T/d2.err" &
pid2=$!
ft_wait_until 30 mountpoint -q -- "$M" ||
	ft_fail "the second mount did not appear within 30 s: $(cat "$T/d2.err")"
unset "FT_PID[$M]"
wait "$pid1" && rc=0 || rc=$?
ft_assert_eq "$rc" 0 "the first daemon finished its write-out and exited 0"
FT_PID[$M]=$pid2
WAITING='waiting for the previous frozenfs of this store to finish writing'
ft_assert_eq "$(grep -c "$WAITING" "$T/d2.err")" 1 "the second daemon said once that it waits"
[ "$(grep -c 'result=delay' "$T/faults.log")" -ge 1 ] ||
	ft_fail "the shim delayed no sync: the write-out was not slow, the test proves nothing"
ft_ok "the first daemon's write-out was delayed ($(grep -c 'result=delay' "$T/faults.log") syncs)"
ft_assert_same_file "$T/data" "$M/f" "the file written before the unmount, read on the new mount"
umount_fs "$M"

ft_done
