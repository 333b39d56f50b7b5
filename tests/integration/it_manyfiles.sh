#!/bin/bash
#
# it_manyfiles: a tree with many more files than the daemon has file descriptors.
#
# The daemon holds a descriptor per inode the kernel caches (two once a file was opened),
# and the kernel caches every name it looked up until memory runs short. Before the
# reclaim thread (fs/fs_reclaim.h), a daemon limited to 20000 descriptors failed creates
# with EMFILE after 9994 files. Here the daemon runs with RLIMIT_NOFILE 4096 and without
# CAP_SYS_RESOURCE (so it cannot raise the limit itself), and 6000 files go through it:
#   - cp -r of the tree into the mount (creates: the reclaim thread keeps up with them);
#   - tar c, find -ls and cat of every file in the mount (a lookup storm, readdirplus);
#   - a second cp -r inside the mount, then the same trees after a remount;
#   - the daemon logged no descriptor shortage and its limit really was $LIMIT;
#   - a file bind-mounted over a file of the mount, one in this mount namespace and one in a
#     private namespace (unshare -m), is still mounted after all that: invalidating a name
#     makes the kernel detach the mounts on it, so the reclaim must skip those names
#     (fs/fs_mounts.h; before, the bind mount vanished after 900 creates at limit 1024).
#
# Usage: it_manyfiles.sh FROZENFS_BINARY   (or env FROZENFS)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_fake && ft_fail "it_manyfiles needs the real daemon (FT_FAKE is set)"
ft_need "util-linux, tar, coreutils" setpriv prlimit unshare nsenter tar sha256sum

T=$FT_TMP
S=$T/store
M=$T/mnt
SRC=$T/src
# Env FT_MANYFILES=N,LIMIT scales it down (the sanitizer run in setup.sh); N must exceed LIMIT.
LIMIT=4096
NFILES=6000
if [ -n "${FT_MANYFILES:-}" ]; then
	NFILES=${FT_MANYFILES%,*}
	LIMIT=${FT_MANYFILES#*,}
	[ "$NFILES" -gt "$LIMIT" ] || ft_fail "FT_MANYFILES=$FT_MANYFILES: N must exceed LIMIT"
fi
mkdir -p "$S" "$M" "$SRC"

ft_limit_fds "$LIMIT"

ft_check "a source tree of $NFILES files (0..2 KiB) in 3 directories"
for d in a b c; do
	mkdir -p "$SRC/$d"
	for i in $(seq 1 $((NFILES / 3))); do
		head -c $(((i * 37) % 2048)) /dev/urandom >"$SRC/$d/f$i"
	done
done
ft_ok "$(find "$SRC" -type f | wc -l) files"

mount_fs "$S" "$M" log_level=debug
pid=${FT_PID[$M]}
lim=$(awk '/Max open files/ {print $4}' "/proc/$pid/limits")
ft_assert_eq "$LIMIT" "$lim" "the daemon's descriptor limit"

ft_check "files bind-mounted over two files of the mount, here and in a private namespace"
echo "from the host" >"$T/over.src"
echo "from a namespace" >"$T/over2.src"
echo inner >"$M/over"
echo inner >"$M/over2"
mount --bind "$T/over.src" "$M/over" || ft_fail "bind mount over $M/over"
unshare -m --propagation private sh -c \
	"mount --bind '$T/over2.src' '$M/over2' && echo ready >'$T/ns.ready' && exec sleep 600" &
NSPID=$!
FT_BG+=("$NSPID")
ft_wait_until 10 test -s "$T/ns.ready" || ft_fail "the namespace's bind mount did not come up"
ft_assert_eq "$(cat "$M/over")" "from the host" "the bind mount in this namespace"
ft_assert_eq "$(nsenter -t $NSPID -m cat "$M/over2")" "from a namespace" "the bind mount in the other"

ft_check "cp -r of $NFILES files into the mount"
cp -r "$SRC" "$M/tree" 2>"$T/cp.err" || ft_fail "cp -r failed: $(head -c 400 "$T/cp.err")"
ft_ok "cp -r"
n=$(ls /proc/"$pid"/fd | wc -l)
[ "$n" -lt "$LIMIT" ] || ft_fail "the daemon holds $n descriptors"
ft_ok "the daemon holds $n descriptors after the copy"

ft_check "tar c, find -ls and cat of every file: a lookup storm"
tar cf "$T/out.tar" -C "$M" tree 2>"$T/tar.err" || ft_fail "tar c failed: $(head -c 400 "$T/tar.err")"
ft_ok "tar c"
n=$(find "$M/tree" -ls 2>"$T/find.err" | wc -l)
[ -s "$T/find.err" ] && ft_fail "find -ls: $(head -c 400 "$T/find.err")"
ft_assert_eq $((NFILES + 4)) "$n" "entries listed by find -ls"
n=$(find "$M/tree" -type f -print0 | xargs -0 cat 2>"$T/cat.err" | wc -c)
[ -s "$T/cat.err" ] && ft_fail "cat: $(head -c 400 "$T/cat.err")"
ft_assert_eq "$(find "$SRC" -type f -print0 | xargs -0 cat | wc -c)" "$n" "bytes read back"
mkdir -p "$T/untar"
tar xf "$T/out.tar" -C "$T/untar" || ft_fail "tar x of the archive failed"
ft_assert_same_tree "$SRC" "$T/untar/tree" "the archive made from the mount"

ft_check "cp -r inside the mount (every file looked up, read, created, written)"
cp -r "$M/tree" "$M/copy" 2>"$T/cp2.err" || ft_fail "cp -r in the mount: $(head -c 400 "$T/cp2.err")"
ft_assert_same_tree "$SRC" "$M/copy" "the copy inside the mount"

ft_assert_no_fd_shortage "$M" "during the copies"
grep -q "reclaim: " "${FT_LOG[$M]}" || ft_fail "the reclaim thread never ran (the test proves nothing)"
ft_ok "reclaim ran $(grep -c 'reclaim: ' "${FT_LOG[$M]}") times"

ft_check "both bind mounts survived the reclaim"
ft_assert_eq "$(cat "$M/over")" "from the host" "the bind mount in this namespace"
ft_assert_eq "$(nsenter -t $NSPID -m cat "$M/over2")" "from a namespace" "the bind mount in the other"
kill $NSPID
wait $NSPID 2>/dev/null
umount "$M/over" || ft_fail "umount of the bind mount"

remount_fs "$S" "$M" log_level=debug
ft_assert_same_tree "$SRC" "$M/tree" "the tree after a remount"
ft_assert_same_tree "$SRC" "$M/copy" "the copy after a remount"
ft_assert_no_fd_shortage "$M" "after the remount"
umount_fs "$M"
ft_done
