#!/bin/bash
#
# hole_reserve: a write into a hole of a sparse file, when the backing filesystem refuses
# space (the fault shim fails every fallocate of that file with ENOSPC):
#   - with -o reserve_holes the write reserves first, so write(2) itself fails with ENOSPC,
#     nothing is queued, and the file is not poisoned: fsync returns 0 and a later write
#     elsewhere in it works (the extending kind of reservation is made by every mount);
#   - by default, on a backing filesystem with more room than twice the pool, the write
#     reserves nothing (no fallocate at all), and its write-out succeeds.
# On a nearly full backing filesystem the default reserves too: it_enospc fills one.
#
# Usage: hole_reserve.sh FROZENFS_BINARY   (env FT_SHIM: libfrozenfs_fault_shim.so)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
[ -n "${FT_SHIM:-}" ] && [ -r "$FT_SHIM" ] || ft_fail "env FT_SHIM must name the fault shim"
ft_need "python3 (the writes and their errno)" python3

T=$FT_TMP
M=$T/mnt
free_mb=$(df -Pm "$T" | awk 'NR == 2 { print $4 }')
[ "$free_mb" -ge 1024 ] ||
	ft_fail "$T has $free_mb MiB free: the default case needs more room than twice the pool"

# shim_mount STORE OPTS: the daemon with every fallocate of a file named "sparse" failing.
shim_mount()
{
	mkdir -p "$1" "$M"
	LD_PRELOAD=$FT_SHIM FROZENFS_FAULTS='fallocate@/sparse:1+:ENOSPC' \
		FROZENFS_FAULTS_LOG=$T/faults.log \
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
		"$FROZENFS" -f -o "$2" "$1" "$M" >"$T/daemon.log" 2>&1 &
	FT_PID[$M]=$!
	FT_MOUNTS+=("$M")
	ft_wait_until 10 mountpoint -q -- "$M" ||
		ft_fail "the daemon did not mount: $(cat "$T/daemon.log")"
}

# hole_write: grows "sparse" to 64 MiB with ftruncate, writes 4 KiB at 8 MiB; prints the
# write's errno name (or 0), then the fsync's, then what a read of the written range gives.
hole_write()
{
	python3 - "$M/sparse" <<'PY'
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
}

ft_check "-o reserve_holes: the write into the hole fails with ENOSPC, the file stays usable"
shim_mount "$T/s1" reserve_holes
ft_assert_eq "$(hole_write)" "ENOSPC 0 zeros" "write errno, fsync errno, the range read back"
[ "$(grep -c 'kind=fallocate.*result=ENOSPC' "$T/faults.log")" -ge 1 ] ||
	ft_fail "the shim refused no fallocate: the test proves nothing"
umount_fs "$M"

ft_check "default, with room: the write into the hole reserves nothing and is written out"
: >"$T/faults.log"
shim_mount "$T/s2" flush_interval_ms=100
ft_assert_eq "$(hole_write)" "0 0 data" "write errno, fsync errno, the range read back"
ft_assert_eq "$(grep -c 'kind=fallocate' "$T/faults.log")" 0 "fallocates refused"
umount_fs "$M"
mount_fs "$T/s2" "$M"
ft_assert_eq "$(dd if="$M/sparse" bs=4096 skip=2048 count=1 status=none | tr -d h | wc -c)" 0 \
	"the written range after a remount"
umount_fs "$M"

ft_done
