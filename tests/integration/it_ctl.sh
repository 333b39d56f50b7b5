#!/bin/bash
#
# it_ctl: frozenfs-ctl and the control xattrs (fs/fs_ctl.h) on a real mount, and -o log_level.
#
#   - status: every key is there; queued bytes > 0 after a write under a long flush interval,
#     0 after `frozenfs-ctl sync`; the backing file then holds the data.
#   - sync with a slow flusher (test_flush_delay_us) returns only after the batch is written.
#   - wait: the open epoch becomes durable; an epoch beyond it is refused.
#   - user.frozenfs.durable of a file flips from "no" to "yes".
#   - the control names are not listed, cannot be set on files, and cp -a, rsync -X and
#     tar --xattrs copy ordinary user.* attributes in and out of the mount and nothing else.
#   - a user who may not write the mount root (nobody, with default_permissions) can still
#     read the status and sync (frozenfs-ctl falls back to reading user.frozenfs.sync), and
#     so can anyone on an -o ro mount, where the kernel refuses every setxattr.
#   - log_level: debug logs control requests, info logs the mount but not them, error logs
#     neither; a bad level is refused.
#
# Usage: it_ctl.sh FROZENFS_BINARY   (env FROZENFS_CTL: the frozenfs-ctl binary)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$1"
ft_fake && ft_fail "it_ctl needs the real daemon"
CTL=${FROZENFS_CTL:-$(dirname -- "$FROZENFS")/../tools/frozenfs-ctl}
[ -x "$CTL" ] || ft_fail "frozenfs-ctl '$CTL' is missing or not executable (set FROZENFS_CTL)"
ft_need "apt-get install attr rsync tar" getfattr setfattr rsync tar

T=$FT_TMP
B=$T/store
M=$T/mnt
mkdir -p "$B"

# key NAME: the value of NAME in the status of $M
key() { "$CTL" status "$M" | sed -n "s/^$1: //p"; }
# xattr NAME PATH: the value; xlist PATH: every attribute, as getfattr -d prints them
xattr() { getfattr --absolute-names --only-values -n "$1" -- "$2"; }
xlist() { getfattr --absolute-names -d -m - -- "$1"; }
durable_word() { xattr user.frozenfs.durable "$1" | cut -d' ' -f1; }

mount_fs "$B" "$M" flush_interval_ms=600000,nosync_on_close,log_level=debug
LOG=${FT_LOG[$M]}

ft_check "status has every documented key, from the root and from a subdirectory"
mkdir "$M/sub"
st=$("$CTL" status "$M/sub") || ft_fail "frozenfs-ctl status $M/sub exited $?"
for k in version backing mountpoint chunk_size flush_interval_ms durable_epoch open_epoch flushes \
	queued_chunks queued_bytes pool_in_use pool_high_water pool_buffers writers_blocked \
	flush_p50_us flush_p99_us bytes_written chunks_written syncs fsyncs_served failed_files \
	metadata_error read_only; do
	printf '%s\n' "$st" | grep -q "^$k: " || ft_fail "status lacks '$k:': $st"
done
ft_assert_eq "$(key read_only)" "no" "read_only of a writable mount"
ft_assert_eq "$(key failed_files)" "0" "no failed files"
gv=$(xattr user.frozenfs.status "$M" 2>"$T/err") ||
	ft_fail "getfattr of the status: $(cat "$T/err")"
printf '%s\n' "$gv" | grep -q '^durable_epoch: ' || ft_fail "getfattr status text: $gv"
ft_ok "status through frozenfs-ctl and through getfattr"

ft_check "a write without fsync stays queued; frozenfs-ctl sync makes it durable"
head -c 300000 /dev/urandom >"$T/data"
cp "$T/data" "$M/file" || ft_fail "cp into the mount"
q=$(key queued_bytes)
[ "$q" -gt 0 ] || ft_fail "queued_bytes is $q after a 300000-byte write (flush interval 600 s)"
ft_ok "queued_bytes $q after the write"
ft_assert_eq "$(durable_word "$M/file")" "no" "user.frozenfs.durable before sync"
"$CTL" durable "$M/file" >/dev/null && rc=0 || rc=$?
ft_assert_eq "$rc" 2 "frozenfs-ctl durable exit status for a file not yet durable"
[ "$(stat -c %s "$B/file")" -lt 300000 ] || ft_fail "backing file already complete before sync"
e0=$(key durable_epoch)
"$CTL" sync "$M" || ft_fail "frozenfs-ctl sync exited $?"
ft_assert_eq "$(key queued_bytes)" 0 "queued_bytes after frozenfs-ctl sync"
ft_assert_eq "$(key queued_chunks)" 0 "queued_chunks after frozenfs-ctl sync"
ft_assert_eq "$(durable_word "$M/file")" "yes" "user.frozenfs.durable after sync"
"$CTL" durable "$M/file" >/dev/null || ft_fail "frozenfs-ctl durable exited $? after sync"
[ "$(key durable_epoch)" -gt "$e0" ] || ft_fail "durable_epoch did not advance past $e0"
ft_assert_same_file "$T/data" "$B/file" "backing file after sync"
[ "$(key bytes_written)" -ge 300000 ] || ft_fail "bytes_written $(key bytes_written) < 300000"
[ "$(key syncs)" -ge 1 ] || ft_fail "syncs is $(key syncs) after a sync"
ft_ok "bytes_written and syncs count the flush"

ft_check "frozenfs-ctl wait: the open epoch becomes durable, a later one is refused"
head -c 70000 /dev/urandom >>"$M/file" || ft_fail "append"
[ "$(key queued_bytes)" -gt 0 ] || ft_fail "nothing queued after the append"
ft_assert_eq "$(durable_word "$M/file")" "no" "durable after the append"
want=$(xattr user.frozenfs.durable "$M/file" | sed -n 's/.* epoch=\([0-9]*\).*/\1/p')
open=$(key open_epoch)
[ "$want" -le "$open" ] || ft_fail "file's epoch $want is beyond the open epoch $open"
"$CTL" wait "$M" "$want" || ft_fail "frozenfs-ctl wait $M $want exited $?"
d=$(key durable_epoch)
[ "$d" -ge "$want" ] || ft_fail "durable_epoch $d < $want after wait"
ft_assert_eq "$(durable_word "$M/file")" "yes" "durable after waiting for epoch $want"
"$CTL" wait "$M" 1 || ft_fail "waiting for an epoch already durable"
if "$CTL" wait "$M" $(($(key open_epoch) + 5)) 2>"$T/err"; then
	ft_fail "frozenfs-ctl wait accepted an epoch that is not open"
fi
grep -q 'not open yet' "$T/err" || ft_fail "wait refusal message: $(cat "$T/err")"
ft_ok "an epoch beyond the open one is refused: $(cat "$T/err")"
if "$CTL" wait "$M" banana 2>/dev/null; then ft_fail "wait accepted 'banana'"; fi
ft_ok "a non-numeric epoch is refused"

ft_check "the control attributes are not listed and not settable on files"
setfattr -n user.color -v blue -- "$M/file" || ft_fail "setfattr user.color on a file"
setfattr -n user.tag -v top -- "$M" || ft_fail "setfattr user.tag on the root"
ft_assert_eq "$(xattr user.color "$B/file")" blue \
	"an ordinary user.* attribute reaches the backing file"
ft_assert_eq "$(xattr user.tag "$B")" top \
	"an ordinary user.* attribute of the root reaches the backing directory"
for p in "$M" "$M/file"; do
	l=$(xlist "$p")
	if printf '%s\n' "$l" | grep -q user.frozenfs; then ft_fail "listxattr of $p shows: $l"; fi
done
ft_ok "listxattr shows no user.frozenfs.* name"
if setfattr -n user.frozenfs.durable -v yes -- "$M/file" 2>/dev/null; then
	ft_fail "user.frozenfs.durable could be set"
fi
if setfattr -n user.frozenfs.status -v x -- "$M" 2>/dev/null; then
	ft_fail "user.frozenfs.status could be set"
fi
if setfattr -x user.frozenfs.sync -- "$M" 2>/dev/null; then
	ft_fail "user.frozenfs.sync could be removed"
fi
ft_ok "user.frozenfs.durable and .status cannot be set, .sync cannot be removed"

ft_check "cp -a, rsync -X and tar --xattrs in and out of the mount copy only real xattrs"
mkdir -p "$T/src/d"
head -c 10000 /dev/urandom >"$T/src/d/a"
setfattr -n user.k -v v1 -- "$T/src/d/a" || ft_fail "setfattr on the source tree in /tmp"
cp -a "$T/src/d" "$M/cpa" || ft_fail "cp -a into the mount"
rsync -aX "$T/src/d/" "$M/rs/" || ft_fail "rsync -aX into the mount"
tar --xattrs --xattrs-include='user.*' -C "$T/src" -cf "$T/in.tar" d || ft_fail "tar -c"
mkdir "$M/tar" && tar --xattrs --xattrs-include='user.*' -C "$M/tar" -xf "$T/in.tar" ||
	ft_fail "tar --xattrs -x into the mount"
for d in cpa rs tar/d; do
	ft_assert_eq "$(xattr user.k "$M/$d/a")" v1 "user.k after copying into $d"
done
mkdir "$T/out"
cp -a "$M/file" "$T/out/cpa" || ft_fail "cp -a out of the mount"
rsync -aX "$M/file" "$T/out/rs" || ft_fail "rsync -aX out of the mount"
tar --xattrs --xattrs-include='*' -C "$M" -cf "$T/out.tar" file || ft_fail "tar -c of the mount"
mkdir "$T/out/tar" && tar --xattrs --xattrs-include='*' -C "$T/out/tar" -xf "$T/out.tar" ||
	ft_fail "tar -x"
for f in cpa rs tar/file; do
	ft_assert_same_file "$T/out/$f" "$M/file" "content copied out as $f"
	ft_assert_eq "$(xattr user.color "$T/out/$f")" blue "user.color of $f"
	if xlist "$T/out/$f" 2>/dev/null | grep -q user.frozenfs; then
		ft_fail "a control attribute was copied to $f"
	fi
done
ft_ok "no control attribute was copied out"

ft_check "debug log_level logs the control requests"
grep -q 'control: sync of epoch [0-9]* done' "$LOG" ||
	ft_fail "no 'control: sync ... done' line in the debug log"
ft_ok "the sync is in the log"
umount_fs "$M"

ft_check "sync waits for a slow flusher (test_flush_delay_us=700000)"
mount_fs "$B" "$M" flush_interval_ms=600000,nosync_on_close,test_flush_delay_us=700000,log_level=info
head -c 200000 /dev/urandom >"$M/slow" || ft_fail "write"
[ "$(key queued_bytes)" -gt 0 ] || ft_fail "nothing queued"
t0=$(date +%s%N)
"$CTL" sync "$M" || ft_fail "frozenfs-ctl sync exited $?"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 650 ] || ft_fail "sync returned after $ms ms, before the 700 ms batch could be written"
ft_assert_eq "$(key queued_bytes)" 0 "queued_bytes after the slow sync ($ms ms)"
cmp -s "$M/slow" "$B/slow" || ft_fail "backing file differs after the slow sync"
ft_ok "backing file complete after the slow sync"
LOG=${FT_LOG[$M]}
umount_fs "$M"
grep -q 'mounted on' "$LOG" || ft_fail "log_level=info: no mount line in $(cat "$LOG")"
if grep -q 'control:' "$LOG"; then ft_fail "log_level=info logged a debug line: $(cat "$LOG")"; fi
ft_ok "log_level=info: mount logged, control requests not"

ft_check "log_level=error logs neither; a bad level is refused"
mount_fs "$B" "$M" log_level=error
"$CTL" sync "$M" || ft_fail "sync"
LOG=${FT_LOG[$M]}
umount_fs "$M"
[ ! -s "$LOG" ] || ft_fail "log_level=error: the log is not empty: $(cat "$LOG")"
ft_ok "log_level=error: nothing logged by a clean mount, sync and unmount"
if "$FROZENFS" -f -o log_level=loud "$B" "$M" 2>"$T/err"; then
	ft_fail "log_level=loud accepted"
fi
grep -q "^frozenfs: invalid log_level 'loud'" "$T/err" || ft_fail "refusal: $(cat "$T/err")"
mountpoint -q -- "$M" && ft_fail "mounted despite a bad log_level"
ft_ok "refused: $(head -1 "$T/err")"

ft_check "an unprivileged user (nobody) reads the status and syncs through the mount"
command -v setpriv >/dev/null || ft_fail "setpriv is missing (util-linux)"
chmod 755 "$T"
mount_fs "$B" "$M" flush_interval_ms=600000,nosync_on_close,allow_other,default_permissions
asnobody() { setpriv --reuid=65534 --regid=65534 --clear-groups -- "$@"; }
head -c 100000 /dev/urandom >"$M/byroot" && chmod 644 "$M/byroot" || ft_fail "write as root"
[ "$(key queued_bytes)" -gt 0 ] || ft_fail "nothing queued"
asnobody "$CTL" status "$M" >"$T/st" || ft_fail "frozenfs-ctl status as nobody exited $?"
grep -q '^open_epoch: ' "$T/st" || ft_fail "status as nobody: $(cat "$T/st")"
if asnobody setfattr -n user.frozenfs.sync -- "$M" 2>/dev/null; then
	ft_fail "nobody could set an attribute of a root-owned 0755 directory"
fi
asnobody "$CTL" durable "$M/byroot" >/dev/null && rc=0 || rc=$?
ft_assert_eq "$rc" 2 "frozenfs-ctl durable as nobody before the sync"
asnobody "$CTL" sync "$M" || ft_fail "frozenfs-ctl sync as nobody exited $?"
ft_assert_eq "$(key queued_bytes)" 0 "queued_bytes after a sync by nobody"
asnobody "$CTL" durable "$M/byroot" >/dev/null || ft_fail "durable as nobody after the sync"
umount_fs "$M"

ft_check "sync and status on a read-only mount"
mount_fs "$B" "$M" ro
"$CTL" sync "$M" || ft_fail "frozenfs-ctl sync on a read-only mount exited $?"
ft_assert_eq "$(key read_only)" "yes (-o ro)" "read_only of an -o ro mount"
ft_assert_eq "$(durable_word "$M/file")" "yes" "durable of an unwritten file"
umount_fs "$M"

ft_done
