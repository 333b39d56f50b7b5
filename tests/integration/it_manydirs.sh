#!/bin/bash
#
# it_manydirs: a tree with many more directories than the daemon has file descriptors.
#
# The daemon holds an O_PATH descriptor for every directory the kernel caches. The reclaim
# thread (fs/fs_reclaim.h) used to drop only names of files, so with RLIMIT_NOFILE 1024 the
# 1015th mkdir failed with EMFILE and from then on the whole mount did (even ls of the
# root). Directories are now dropped too, leaves of the kernel's cached tree first, except
# those a process works in, those a mount sits on and those above a mount. Here the daemon
# runs with RLIMIT_NOFILE 1024 and without CAP_SYS_RESOURCE, and:
#   - a process works in one directory (its getcwd must keep working: /proc/PID/cwd must not
#     read "(deleted)"), and a directory is bind-mounted over a directory deep in the tree;
#     both are set up first, so they are the oldest names and the first the reclaim would
#     take;
#   - mkdir -p of 2000 nested directories with a file in every tenth, then find, tar c and
#     a tree comparison through the mount, a cp -r inside the mount, and after a remount;
#   - the daemon logged no descriptor shortage, the reclaim ran, and its limit was $LIMIT.
#
# Usage: it_manydirs.sh FROZENFS_BINARY   (or env FROZENFS)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_fake && ft_fail "it_manydirs needs the real daemon (FT_FAKE is set)"
ft_need "util-linux, tar, coreutils" setpriv prlimit tar

T=$FT_TMP
S=$T/store
M=$T/mnt
SRC=$T/src
LIMIT=1024
NDIRS=2000
mkdir -p "$S" "$M" "$SRC"

ft_limit_fds "$LIMIT"

ft_check "a source tree of $NDIRS directories, a file in every tenth"
for i in $(seq 1 $NDIRS); do
	d=$SRC/t$((i % 7))/u$((i % 43))/v$i
	mkdir -p "$d"
	[ $((i % 10)) -eq 0 ] && echo "file $i" >"$d/f"
done
ft_ok "$(find "$SRC" -type d | wc -l) directories, $(find "$SRC" -type f | wc -l) files"

mount_fs "$S" "$M" log_level=debug
pid=${FT_PID[$M]}
lim=$(awk '/Max open files/ {print $4}' "/proc/$pid/limits")
ft_assert_eq "$LIMIT" "$lim" "the daemon's descriptor limit"

ft_check "a process working in a directory of the mount, a bind mount over another"
mkdir -p "$M/pin/work" "$M/pin/a/b/c/over" "$T/other"
echo outside >"$T/other/marker"
(cd "$M/pin/work" && exec sleep 600) &
CWDPID=$!
FT_BG+=("$CWDPID")
mount --bind "$T/other" "$M/pin/a/b/c/over" || ft_fail "bind mount over $M/pin/a/b/c/over"
ft_wait_until 10 test "$(readlink "/proc/$CWDPID/cwd")" = "$M/pin/work" ||
	ft_fail "the working directory of $CWDPID is $(readlink "/proc/$CWDPID/cwd")"
ft_assert_eq "$(cat "$M/pin/a/b/c/over/marker")" "outside" "the bind mount"

ft_check "mkdir -p of $NDIRS directories and their files in the mount"
(cd "$SRC" && find . -type d) | (cd "$M" && mkdir -p tree && cd tree && xargs mkdir -p) \
	2>"$T/mkdir.err" || ft_fail "mkdir -p failed: $(head -c 400 "$T/mkdir.err")"
(cd "$SRC" && find . -type f) | while read -r f; do
	cp "$SRC/$f" "$M/tree/$f" || exit 1
done 2>"$T/cp.err" || ft_fail "creating the files failed: $(head -c 400 "$T/cp.err")"
ft_assert_same_tree "$SRC" "$M/tree" "the tree in the mount"
n=$(ls /proc/"$pid"/fd | wc -l)
[ "$n" -lt "$LIMIT" ] || ft_fail "the daemon holds $n descriptors"
ft_ok "the daemon holds $n descriptors"

ft_check "find, tar c and cp -r inside the mount"
n=$(find "$M/tree" -type d 2>"$T/find.err" | wc -l)
[ -s "$T/find.err" ] && ft_fail "find: $(head -c 400 "$T/find.err")"
ft_assert_eq "$(find "$SRC" -type d | wc -l)" "$n" "directories listed by find"
tar cf "$T/out.tar" -C "$M" tree 2>"$T/tar.err" || ft_fail "tar c failed: $(head -c 400 "$T/tar.err")"
mkdir -p "$T/untar"
tar xf "$T/out.tar" -C "$T/untar" || ft_fail "tar x of the archive failed"
ft_assert_same_tree "$SRC" "$T/untar/tree" "the archive made from the mount"
cp -r "$M/tree" "$M/copy" 2>"$T/cp2.err" || ft_fail "cp -r in the mount: $(head -c 400 "$T/cp2.err")"
ft_assert_same_tree "$SRC" "$M/copy" "the copy inside the mount"

ft_assert_no_fd_shortage "$M" "during the copies"
grep -q "reclaim: " "${FT_LOG[$M]}" || ft_fail "the reclaim thread never ran (the test proves nothing)"
ft_ok "reclaim ran $(grep -c 'reclaim: ' "${FT_LOG[$M]}") times"

ft_check "the working directory and the bind mount survived the reclaim"
ft_assert_eq "$(readlink "/proc/$CWDPID/cwd")" "$M/pin/work" "the process's working directory"
mountpoint -q "$M/pin/a/b/c/over" || ft_fail "the bind mount over $M/pin/a/b/c/over was detached"
ft_assert_eq "$(cat "$M/pin/a/b/c/over/marker")" "outside" "the bind mount"
kill $CWDPID
wait $CWDPID 2>/dev/null
umount "$M/pin/a/b/c/over" || ft_fail "umount of the bind mount"

remount_fs "$S" "$M" log_level=debug
ft_assert_same_tree "$SRC" "$M/tree" "the tree after a remount"
ft_assert_same_tree "$SRC" "$M/copy" "the copy after a remount"
ft_assert_no_fd_shortage "$M" "after the remount"
umount_fs "$M"
ft_done
