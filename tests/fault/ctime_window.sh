#!/bin/bash
#
# ctime_window: a chmod made while a write-out is in progress keeps its ctime.
#
# stat shows the logical mtime as the ctime when the backing ctime falls inside the latest
# write-out's window (the write-out stamped it: requirement 37). A chmod inside that window
# stamps the backing ctime too; without the per-inode floor its ctime was hidden behind the
# older mtime, so ctime went backwards after the write-out ended (seen as a rare it_posix
# flake under ASan, whose write-outs are slow). The fault shim holds the timer write-out in
# its futimens for 1.5 s; the chmod lands inside.
#
# Usage: ctime_window.sh FROZENFS_BINARY   (env FT_SHIM: libfrozenfs_fault_shim.so)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_need "python3 (the timed calls)" python3

T=$FT_TMP
S=$T/store
M=$T/mnt
mkdir -p "$S" "$M"

mount_fs_faults 'futimens@/victim:1:delay1500' "$S" "$M" flush_interval_ms=100

# Writes, lets the timer write-out start (it sleeps in futimens), chmods inside it, and
# prints: ctime after the chmod > mtime, ctime after the write-out == ctime after the chmod.
ft_check "a chmod during a write-out: its ctime survives the write-out"
got=$(python3 - "$M/victim" <<'PY'
import os, sys, time
p = sys.argv[1]
fd = os.open(p, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, b"x" * 4096)
m = os.fstat(fd).st_mtime_ns
time.sleep(0.6)                      # the write-out has begun and waits in futimens
os.chmod(p, 0o600)
c1 = os.stat(p).st_ctime_ns
time.sleep(2.5)                      # the write-out has ended; the cached attributes expired
c2 = os.stat(p).st_ctime_ns
os.close(fd)
print("later" if c1 > m else "not-later", "same" if c2 == c1 else "changed(%d)" % (c2 - c1))
PY
)
ft_assert_eq "$got" "later same" "chmod's ctime vs the write's mtime, and after the write-out"
grep -q 'kind=futimens.*result=delay' "$T/faults.log" ||
	ft_fail "the shim delayed no futimens: the chmod was not inside a write-out"
ft_ok "the write-out was held in futimens while the chmod ran"
umount_fs "$M"

ft_done
