#!/bin/bash
#
# hole_reserve: a write into a hole of a sparse file reserves its bytes before it is queued.
# With the fault shim failing every fallocate of that file with ENOSPC (a backing filesystem
# without room), write(2) itself fails with ENOSPC and nothing is queued, so the file is not
# poisoned: fsync returns 0, the range reads as the hole it was, and the daemon exits 0 at
# unmount (no write-out failed). it_enospc does the same on a really full filesystem.
#
# Usage: hole_reserve.sh FROZENFS_BINARY   (env FT_SHIM: libfrozenfs_fault_shim.so)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_need "python3 (the writes and their errno)" python3

T=$FT_TMP
S=$T/store
M=$T/mnt
mkdir -p "$S" "$M"

ft_check "a write into a hole, with the backing fallocate refused: ENOSPC at write(2)"
mount_fs_faults 'fallocate@/sparse:1+:ENOSPC' "$S" "$M" flush_interval_ms=100

# Grows "sparse" to 64 MiB with ftruncate, writes 4 KiB at 8 MiB; prints the write's errno
# name (or 0), the fsync's, and what a read of the range gives. Then "other", written from
# start to end, reserves as it grows (not refused: the rule names "sparse" only).
got=$(python3 - "$M/sparse" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.ftruncate(fd, 64 << 20)
def run(f):
    try:
        f()
        return "0"
    except OSError as e:
        return errno.errorcode[e.errno]
w = run(lambda: os.pwrite(fd, b"h" * 4096, 8 << 20))
s = run(lambda: os.fsync(fd))
r = os.pread(fd, 4096, 8 << 20)
print(w, s, "data" if r == b"h" * 4096 else "zeros" if r == bytes(4096) else "other")
os.close(fd)
PY
)
ft_assert_eq "$got" "ENOSPC 0 zeros" "write errno, fsync errno, the range read back"
[ "$(grep -c 'kind=fallocate.*result=ENOSPC' "$T/faults.log")" -ge 1 ] ||
	ft_fail "the shim refused no fallocate: the test proves nothing"
ft_ok "the shim refused $(grep -c 'kind=fallocate' "$T/faults.log") fallocate(s) of the file"
head -c $((1 << 20)) /dev/urandom >"$T/other"
cp "$T/other" "$M/other" || ft_fail "writing another file after the refusal"
umount_fs "$M"	# fails unless the daemon exits 0: nothing was left unwritten
mount_fs "$S" "$M"
ft_assert_same_file "$T/other" "$M/other" "the other file after a remount"
ft_assert_eq "$(stat -c %s "$M/sparse")" $((64 << 20)) "the sparse file's size after a remount"
umount_fs "$M"

ft_done
