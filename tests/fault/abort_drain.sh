#!/bin/bash
#
# abort_drain: a FUSE connection aborted (/sys/fs/fuse/connections/N/abort) while an fsync
# is waiting for its sync. The kernel fails the caller's fsync at once; the daemon's session
# ends, it unmounts (closing /dev/fuse), and drains what it accepted: the delayed sync ends
# during the drain, and its reply must not be written anywhere (fs_chan_unmount()). Then
# the daemon exits 0, the data is in the backing file, and a new mount reads it.
#
# Usage: abort_drain.sh FROZENFS_BINARY   (env FT_SHIM: libfrozenfs_fault_shim.so)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_need "python3 (the fsync in flight)" python3

T=$FT_TMP
S=$T/store
M=$T/mnt
CONN=/sys/fs/fuse/connections
mkdir -p "$S" "$M"
if [ ! -d "$CONN" ] || ! mountpoint -q "$CONN"; then
	mount -t fusectl fusectl "$CONN" || ft_fail "cannot mount fusectl on $CONN"
fi

mount_fs_faults 'fdatasync@/victim:1:delay1500,fsync@/victim:1:delay1500' "$S" "$M" \
	flush_interval_ms=10000
pid=${FT_PID[$M]}
log=${FT_LOG[$M]}
conn=$(stat -c %d -- "$M")
[ -w "$CONN/$conn/abort" ] || ft_fail "no $CONN/$conn/abort for the mount"

ft_check "fsync in flight when the connection is aborted: the caller gets an error at once"
head -c $((1 << 20)) /dev/urandom >"$T/data"
python3 - "$M/victim" "$T/data" "$CONN/$conn/abort" >"$T/py.out" 2>&1 <<'PY' &
import os, sys, threading, time
p, src, abort = sys.argv[1:4]
data = open(src, "rb").read()
fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
os.write(fd, data)
def fire():
    time.sleep(0.5)                  # the sync has started and sleeps in the shim
    with open(abort, "w") as f:
        f.write("1")
threading.Thread(target=fire).start()
t0 = time.time()
try:
    os.fsync(fd)
    r = "0"
except OSError as e:
    r = os.strerror(e.errno)
print("fsync:", r, "after %.1f s" % (time.time() - t0))
try:
    os.close(fd)
except OSError:
    pass
PY
py=$!
wait "$py" || ft_fail "the writer failed: $(cat "$T/py.out")"
grep -q '^fsync: 0 ' "$T/py.out" && ft_fail "fsync returned 0 across the abort: $(cat "$T/py.out")"
ft_ok "$(cat "$T/py.out")"

ft_check "the daemon drains, exits 0, and wrote no reply after its session ended"
ft_wait_until 30 eval "! kill -0 $pid 2>/dev/null" ||
	ft_fail "the daemon still runs 30 s after the abort: $(tail -5 "$log")"
wait "$pid" && rc=0 || rc=$?
unset "FT_PID[$M]"
[ "$rc" -eq 0 ] || ft_fail "the daemon exited $rc: $(tail -5 "$log")"
grep -q 'kind=f.*sync.*result=delay' "$T/faults.log" ||
	ft_fail "the shim delayed no sync: the fsync was not in flight at the abort"
grep -qi 'writing device\|splice from pipe' "$log" &&
	ft_fail "a reply was written after the session ended: $(cat "$log")"
# libfuse leaves an aborted connection's mount in place (as after a crash); the daemon says
# how to remove it.
grep -q "still holds the dead mount: unmount it with fusermount3 -u '$M'" "$log" ||
	ft_fail "the daemon did not say how to remove the dead mount: $(cat "$log")"
fusermount3 -u -- "$M" || ft_fail "fusermount3 -u of the aborted mount"
ft_ok "exit 0; $(tail -1 "$log")"

ft_check "the data written before the abort is in the store"
"$FROZENFS" fsck "$S" >"$T/fsck.log" 2>&1 || ft_fail "fsck: $(cat "$T/fsck.log")"
mount_fs "$S" "$M"
ft_assert_same_file "$T/data" "$M/victim" "the file after the abort and a remount"
umount_fs "$M"

ft_done
