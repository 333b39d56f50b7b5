#!/bin/bash
#
# it_protocol: what reaches the daemon, and what the daemon does to its backing files.
#
#   - DURABILITY.md requirement 1: FLUSH, FSYNC and FSYNCDIR are implemented. 25 fsync, 25
#     fdatasync and 25 directory fsyncs (sync(1) on files and a directory) each show up as
#     their own request in the -o debug log, each FSYNC/FSYNCDIR/FLUSH answered with success,
#     and nothing anywhere is answered ENOSYS (error -38): one ENOSYS turns every later fsync
#     of the mount into a silent success (fact 1).
#   - requirement 2: the mount is write-through. The INIT reply's flags lack
#     FUSE_WRITEBACK_CACHE (1 << 16), and a 4 KiB write(2) reaches the daemon as a WRITE
#     request while the file is still open.
#   - requirement 6: backing opens never carry O_DIRECT, O_APPEND, O_TRUNC, O_SYNC or O_DSYNC
#     (strace -f -e openat of the daemon), while dd oflag=direct/dsync/sync, `>` and `>>`
#     run in the mount; the 8 MiB dd oflag=direct verifies by sha256, also read back cold,
#     and that cold read is answered by splicing the backing file (strace sees splice).
#     Large WRITEs arrive spliced from /dev/fuse (fs_op_write_buf): libfuse's pipe must hold
#     a whole request, which FS_MAX_WRITE (1 MiB - 4 KiB) makes possible without
#     CAP_SYS_RESOURCE.
#   - the mount's read-ahead is 1008 KiB (fs/fs_chan.h), not the kernel's 128 KiB.
#   - FUSE_HANDLE_KILLPRIV_V2 (fs/fs_chan.h): 200 small writes cost at most one GETXATTR of
#     security.capability (not one per write), and set-ID bits still behave as on any Linux
#     filesystem: a write, a truncate or an O_TRUNC open by another user clears set-user-ID
#     and the set-group-ID of a group-executable file, a write by root keeps them, and the
#     set-group-ID of a file without group execute stays.
#
# Usage: it_protocol.sh FROZENFS_BINARY   (or env FROZENFS). Needs strace (apt-get install strace).

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_fake && ft_fail "it_protocol needs the real daemon (FT_FAKE is set)"
command -v strace >/dev/null || ft_fail "strace is missing (apt-get install strace)"

T=$FT_TMP
S=$T/store
M=$T/mnt
mkdir -p "$S" "$M"

# The store is created first, outside the traced and logged runs.
mount_fs "$S" "$M"
mkdir "$M/dir"
printf 'data\n' >"$M/f"
umount_fs "$M"

# --- requirement 1 and 2: the -o debug log ---------------------------------------------------
mount_fs "$S" "$M" debug
LOG=${FT_LOG[$M]}
count() { grep -c "opcode: $1 (" "$LOG"; }

ft_check "25 fsync, 25 fdatasync and 25 fsync(dir) are each their own request (req 1)"
fs0=$(count FSYNC) fl0=$(count FLUSH) fd0=$(count FSYNCDIR)
for i in $(seq 1 25); do
	sync "$M/f" || ft_fail "sync (fsync) of a file failed"
	sync -d "$M/f" || ft_fail "sync -d (fdatasync) of a file failed"
	sync "$M/dir" || ft_fail "sync (fsync) of a directory failed"
done
# The log is written by the daemon; the last reply may trail our last call by a moment.
last_ok() { [ "$(count FSYNCDIR)" -ge $((fd0 + 25)) ] && [ "$(count FLUSH)" -ge $((fl0 + 50)) ]; }
ft_wait_until 5 last_ok || true
ft_assert_eq "$(($(count FSYNC) - fs0))" 50 "FSYNC requests for 50 file fsync/fdatasync calls"
ft_assert_eq "$(($(count FSYNCDIR) - fd0))" 25 "FSYNCDIR requests for 25 directory fsyncs"
n=$(($(count FLUSH) - fl0))
[ "$n" -ge 50 ] || ft_fail "only $n FLUSH requests for 50 closes of the file"
ft_ok "$n FLUSH requests for 50 closes of the file"
# Every FSYNC/FSYNCDIR/FLUSH answered with success: map uniques to replies.
bad=$(awk '/opcode: (FSYNC|FSYNCDIR|FLUSH) \(/ { split($2, a, ","); want[a[1]] = $4 }
	/^   unique: [0-9]+, / { u = $2; sub(",", "", u); if (u in want) {
		if ($3 != "success,") print want[u], $0; delete want[u] } }
	END { for (u in want) print "no reply to", want[u], u }' "$LOG")
[ -z "$bad" ] || ft_fail "FSYNC/FSYNCDIR/FLUSH not answered with success: $(printf '%s\n' "$bad" | head -n 5)"
ft_ok "every FSYNC, FSYNCDIR and FLUSH answered with success"
if grep -q 'error: -38' "$LOG"; then
	grep -B1 'error: -38' "$LOG" | head -n 6 | sed 's/^/#   /' >&2
	ft_fail "a request was answered ENOSYS (-38)"
fi
ft_ok "no request answered ENOSYS"

ft_check "INIT reply without FUSE_WRITEBACK_CACHE; a 4 KiB write(2) is a WRITE before close (req 2)"
flags=$(grep -A30 'opcode: INIT' "$LOG" | grep '^   flags=' | head -n 1 | sed 's/.*flags=//')
[ -n "$flags" ] || ft_fail "no INIT reply flags in the debug log"
(((flags & 0x10000) == 0)) || ft_fail "INIT reply flags $flags include FUSE_WRITEBACK_CACHE"
ft_ok "INIT reply flags $flags: no writeback cache"
w0=$(count WRITE)
exec 7>"$M/w4k"
head -c 4096 /dev/urandom >&7
write_seen() { [ "$(count WRITE)" -gt "$w0" ]; }
ft_wait_until 5 write_seen || ft_fail "a 4 KiB write(2) did not reach the daemon before close"
exec 7>&-
ft_ok "WRITE request seen while the file was open"

ft_check "the mount's read-ahead is raised to 1008 KiB after INIT (fs_chan.h)"
dev=$(awk -v m="$M" '$5 == m { d = $3 } END { print d }' /proc/self/mountinfo)
[ -n "$dev" ] || ft_fail "$M not in /proc/self/mountinfo"
ft_assert_eq "$(cat "/sys/class/bdi/$dev/read_ahead_kb")" 1008 "read_ahead_kb of bdi $dev"

ft_check "200 writes of 4 KiB cost at most one GETXATTR (FUSE_HANDLE_KILLPRIV_V2)"
g0=$(count GETXATTR) w0=$(count WRITE)
dd if=/dev/zero of="$M/many" bs=4k count=200 status=none || ft_fail "dd of 200 writes"
ft_assert_eq "$(($(count WRITE) - w0))" 200 "WRITE requests for 200 writes"
n=$(($(count GETXATTR) - g0))
[ "$n" -le 1 ] || ft_fail "$n GETXATTR requests for 200 writes (killpriv_v2 not in effect)"
ft_ok "$n GETXATTR for 200 writes"
umount_fs "$M"

# --- set-ID bits with FUSE_HANDLE_KILLPRIV_V2 -----------------------------------------------
ft_check "set-ID bits are cleared by other users' writes and truncates, kept for root"
chmod 755 "$T" "$M"	# other users must reach the mount
mount_fs "$S" "$M" allow_other,default_permissions
as_nobody() { setpriv --reuid=65534 --regid=65534 --clear-groups sh -c "$1"; }
mode_after() {	# mode_after MODE COMMAND-AS-NOBODY
	chmod "$1" "$M/sid" || ft_fail "chmod $1"
	as_nobody "$2" || ft_fail "as nobody: $2"
	stat -c %a "$M/sid"
}
: >"$M/sid"
chown 65534:65534 "$M/sid"
ft_assert_eq "$(mode_after 6775 "echo a >>'$M/sid'")" 775 "write by another user (06775)"
ft_assert_eq "$(mode_after 4755 "echo a >>'$M/sid'")" 755 "write by another user (04755)"
ft_assert_eq "$(mode_after 2765 "echo a >>'$M/sid'")" 2765 "write by another user (02765: no g+x)"
ft_assert_eq "$(mode_after 6775 "truncate -s 1 '$M/sid'")" 775 "truncate by another user"
ft_assert_eq "$(mode_after 6775 ": >'$M/sid'")" 775 "O_TRUNC open by another user"
chmod 6775 "$M/sid"
echo b >>"$M/sid"
ft_assert_eq "$(stat -c %a "$M/sid")" 6775 "write by root keeps the bits"
umount_fs "$M"

# --- requirement 6: backing open flags under strace ------------------------------------------
ft_check "backing opens carry none of O_DIRECT, O_APPEND, O_TRUNC, O_SYNC, O_DSYNC (req 6)"
REAL=$FROZENFS
cat >"$T/traced-frozenfs" <<EOF
#!/bin/sh
# LeakSanitizer (ASan builds) cannot run under ptrace: keep ASan, drop only its leak check.
ASAN_OPTIONS="\${ASAN_OPTIONS:+\$ASAN_OPTIONS:}detect_leaks=0"
export ASAN_OPTIONS
exec strace -f -qq -y -e trace=open,openat,openat2,creat,splice -o "$T/strace.log" "$REAL" "\$@"
EOF
chmod +x "$T/traced-frozenfs"
FROZENFS=$T/traced-frozenfs
mount_fs "$S" "$M"
head -c $((8 << 20)) /dev/urandom >"$T/src8m"
dd if="$T/src8m" of="$M/direct" bs=1M oflag=direct status=none || ft_fail "dd oflag=direct"
ft_assert_eq "$(sha256sum <"$M/direct")" "$(sha256sum <"$T/src8m")" "8 MiB dd oflag=direct verifies"
dd if="$T/src8m" of="$M/buffered" bs=1M status=none || ft_fail "dd (buffered)"
# Durable (close waited), nothing queued: a cold read is spliced from the backing file.
sync
echo 3 >/proc/sys/vm/drop_caches
ft_assert_eq "$(sha256sum <"$M/direct")" "$(sha256sum <"$T/src8m")" "8 MiB read back cold"
dd if="$T/src8m" of="$M/dsync" bs=64k count=16 oflag=dsync status=none || ft_fail "dd oflag=dsync"
dd if="$T/src8m" of="$M/osync" bs=64k count=16 oflag=sync status=none || ft_fail "dd oflag=sync"
printf 'first\n' >"$M/f" || ft_fail "> (O_TRUNC)"
printf 'second\n' >>"$M/f" || ft_fail ">> (O_APPEND)"
ft_assert_eq "$(cat "$M/f")" "$(printf 'first\nsecond')" "O_TRUNC then O_APPEND content"
umount_fs "$M"
FROZENFS=$REAL
[ -s "$T/strace.log" ] || ft_fail "strace wrote no log"
bad=$(grep -E 'open(at2?)?\(|creat\(' "$T/strace.log" | grep -E '\b(O_DIRECT|O_APPEND|O_TRUNC|O_SYNC|O_DSYNC)\b' || true)
if [ -n "$bad" ]; then
	printf '%s\n' "$bad" | head -n 10 | sed 's/^/#   /' >&2
	ft_fail "the daemon opened files with forbidden flags ($(printf '%s\n' "$bad" | wc -l) calls)"
fi
ft_ok "$(grep -cE 'open(at2?)?\(' "$T/strace.log") traced opens, none with forbidden flags"
# Whole splice calls: strace -f splits a call that another thread interrupts into
# "splice(... <unfinished ...>" and "<... splice resumed>) = N" lines of the same pid.
awk '/ splice\(.*<unfinished \.\.\.>$/ { p = $1; sub(/ <unfinished \.\.\.>$/, ""); u[p] = $0; next }
     /<\.\.\. splice resumed>/ { p = $1; sub(/^[0-9]+ <\.\.\. splice resumed>/, ""); print u[p] $0; next }
     / splice\(/ { print }' "$T/strace.log" >"$T/splices"
ft_check "a cold read of a file with nothing queued is answered by splice (fs_op_read)"
n=$(grep -E ' splice\([0-9]+</' "$T/splices" | grep -cvE ' splice\([0-9]+<(/dev/fuse|pipe:)' || true)
[ "$n" -gt 0 ] || ft_fail "no splice from a backing file while the daemon served 8 MiB of reads"
ft_ok "$n splice calls from backing files"
ft_check "large WRITEs arrive spliced from /dev/fuse into a pipe (fs_op_write_buf)"
# A WRITE of 100000 bytes or more in one splice; needs libfuse's pipe to hold a whole request
# (FS_MAX_WRITE in fs_ops.c), else libfuse reads every request with read(2).
n=$(grep -E ' splice\([0-9]+</dev/fuse>' "$T/splices" | grep -cE '= [0-9]{6,}$' || true)
[ "$n" -gt 0 ] || ft_fail "no splice from /dev/fuse of 100000 bytes or more while 16 MiB were written"
ft_ok "$n large requests spliced from /dev/fuse"

ft_done
