#!/bin/bash
#
# crash_at: the FROZENFS_CRASH_AT test hook itself (fs/fs_crash.h), which dur_crash relies on.
#
#   - A bad value is refused like a bad option: exit 1, exactly one "frozenfs:" line on stderr
#     naming the variable, nothing mounted, the empty backing directory left empty.
#   - <op>:<n>:before kills the daemon (SIGKILL, status 137) at its n-th backing call of that
#     kind without making it; :after makes it first. The caller's call fails with
#     ECONNABORTED or ENOTCONN either way; after a remount the effect is absent or present.
#   - Calls of other kinds are not counted; `any` counts every mutating kind.
#   - A crash point never reached changes nothing: the daemon unmounts and exits 0.
#
# Usage: crash_at.sh FROZENFS_BINARY   (or env FROZENFS)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_fake && ft_fail "crash_at needs the real daemon (FT_FAKE is set)"

T=$FT_TMP
MNT=$T/mnt
mkdir -p "$MNT"

# --- refusals --------------------------------------------------------------------------------
EMPTY=$T/empty
mkdir -p "$EMPTY"
for v in '' x pwritev pwritev: pwritev:0 pwritev:-1 pwritev:+1 'pwritev: 1' pwritev:1x \
	pwritev:1:during pwritev:1: pwritev:1:before:x pwritev:9223372036854775808 \
	Pwritev:1 write:1 :1; do
	ft_check "FROZENFS_CRASH_AT='$v' is refused"
	FROZENFS_CRASH_AT=$v timeout -k 5 20 "$FROZENFS" -f "$EMPTY" "$MNT" >"$T/out" 2>"$T/err" &&
		rc=0 || rc=$?
	if mountpoint -q -- "$MNT"; then
		fusermount3 -uz -- "$MNT"
		ft_fail "FROZENFS_CRASH_AT='$v': mounted anyway"
	fi
	[ "$rc" -eq 1 ] || ft_fail "FROZENFS_CRASH_AT='$v': exit status $rc, expected 1"
	[ "$(wc -l <"$T/err")" -eq 1 ] ||
		ft_fail "FROZENFS_CRASH_AT='$v': not one line on stderr: $(tr '\n' '|' <"$T/err")"
	grep -q "^frozenfs: invalid FROZENFS_CRASH_AT '" "$T/err" ||
		ft_fail "FROZENFS_CRASH_AT='$v': unexpected message: $(cat "$T/err")"
	[ -z "$(ls -A "$EMPTY")" ] ||
		ft_fail "FROZENFS_CRASH_AT='$v': the refused mount wrote to the backing directory"
	ft_ok "refused: $(cat "$T/err")"
done

# --- crash points ----------------------------------------------------------------------------
S=$T/store
mkdir -p "$S"
mount_fs "$S" "$MNT"	# creates the store; nothing below is a crash point of store creation
umount_fs "$MNT"

# crash_mount SPEC: mount the store with FROZENFS_CRASH_AT=SPEC.
crash_mount()
{
	# nosync_on_close: a close must not add syncs to the counts the checks below expect.
	FROZENFS_CRASH_AT=$1 mount_fs "$S" "$MNT" nosync_on_close
}

# expect_crash WHAT CMD...: CMD must fail because the daemon died, and the daemon must have
# been killed by SIGKILL; then the dead mount is lazily unmounted.
expect_crash()
{
	local what=$1 pid=${FT_PID[$MNT]} ran=failed rc=0
	shift
	# bash reports a job killed by a signal on its stderr ("Killed"): expected here.
	{
		"$@" 2>"$T/err" && ran=succeeded
		ft_wait_until 10 eval "! kill -0 $pid 2>/dev/null" || ran=alive
		[ "$ran" = alive ] || wait "$pid" || rc=$?
	} 2>/dev/null
	[ "$ran" != succeeded ] ||
		ft_fail "$what: succeeded, but the daemon should have died at its crash point"
	[ "$ran" != alive ] || ft_fail "$what: the daemon (pid $pid) is still running"
	grep -qE "Software caused connection abort|Transport endpoint is not connected" "$T/err" ||
		ft_fail "$what: failed, but not with ECONNABORTED or ENOTCONN: $(cat "$T/err")"
	unset "FT_PID[$MNT]"
	[ "$rc" -eq 137 ] || ft_fail "$what: daemon exit status $rc, expected 137 (SIGKILL)"
	fusermount3 -uz -- "$MNT" 2>/dev/null || umount -l -- "$MNT"
	ft_ok "$what: failed with '$(head -n 1 "$T/err" | head -c 100)', daemon got SIGKILL"
}

ft_check "mkdirat:2:before: the first mkdir works, the second kills the daemon and is not made"
crash_mount mkdirat:2:before
touch "$MNT/file" || ft_fail "create"	# not a mkdirat: not counted
mkdir "$MNT/d1" || ft_fail "first mkdir failed"
expect_crash "second mkdir" mkdir "$MNT/d2"
mount_fs "$S" "$MNT"
[ -d "$MNT/d1" ] && [ -e "$MNT/file" ] || ft_fail "d1 or file missing after the crash"
[ ! -e "$MNT/d2" ] || ft_fail "d2 exists: the crash came after the mkdirat, not before"
ft_ok "d1 and file exist, d2 does not"
umount_fs "$MNT"

ft_check "mkdirat:1:after: the mkdir fails for the caller but was made"
crash_mount mkdirat:1:after
expect_crash "mkdir" mkdir "$MNT/d3"
mount_fs "$S" "$MNT"
[ -d "$MNT/d3" ] || ft_fail "d3 missing: the crash came before the mkdirat, not after"
ft_ok "d3 exists"
umount_fs "$MNT"

ft_check "renameat2:1:before and :after"
crash_mount renameat2:1:before
expect_crash "rename before" mv "$MNT/d3" "$MNT/d4"
mount_fs "$S" "$MNT"
[ -d "$MNT/d3" ] && [ ! -e "$MNT/d4" ] || ft_fail "renameat2:1:before: the rename happened"
umount_fs "$MNT"
crash_mount renameat2:1:after
expect_crash "rename after" mv "$MNT/d3" "$MNT/d4"
mount_fs "$S" "$MNT"
[ -d "$MNT/d4" ] && [ ! -e "$MNT/d3" ] || ft_fail "renameat2:1:after: the rename did not happen"
ft_ok "before: not renamed; after: renamed"
umount_fs "$MNT"

ft_check "any:3:before counts mutations of every kind: mkdir, rename, then unlink dies"
crash_mount any:3:before
mkdir "$MNT/d5" || ft_fail "mkdir"
mv "$MNT/d5" "$MNT/d6" || ft_fail "rename"
expect_crash "rmdir" rmdir "$MNT/d6"
mount_fs "$S" "$MNT"
[ -d "$MNT/d6" ] || ft_fail "d6 missing: the unlinkat was made"
ft_ok "d6 still exists"
umount_fs "$MNT"

ft_check "fsync:1:before: fsync of a written file fails when the daemon dies in its sync"
crash_mount fsync:1:before
printf 'hello' >"$MNT/f" || ft_fail "write"
expect_crash "sync" sync "$MNT/f"
mount_fs "$S" "$MNT"
umount_fs "$MNT"

ft_check "a crash point never reached changes nothing"
crash_mount linkat:1000000
mkdir "$MNT/d7" && printf 'data' >"$MNT/g" && sync "$MNT/g" || ft_fail "work under the hook"
umount_fs "$MNT"
mount_fs "$S" "$MNT"
[ "$(cat "$MNT/g")" = data ] && [ -d "$MNT/d7" ] || ft_fail "data written under the hook lost"
ft_ok "unmounted with exit 0, data kept"
umount_fs "$MNT"

ft_done
