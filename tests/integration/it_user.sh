#!/bin/bash
#
# it_user: a user other than root mounts a store of their own, the way most people use FUSE:
# fusermount3 (set-user-ID root) mounts and unmounts, and the daemon runs without any
# capability, so its hard links, opens and fsyncs take the paths a root daemon does not
# (links through /proc/self/fd, no CAP_FSETID, no chown). User 65534 creates, writes with
# and without fsync, makes directories, symlinks, hard links, FIFOs, renames, truncates,
# chmods and sets user xattrs; the tree must read the same after a remount, fsck (as the
# user) must be clean, and the daemon must exit 0 at fusermount3 -u. The refusals a user
# meets are checked too: a mount point they cannot write, allow_other without
# user_allow_other in /etc/fuse.conf, and chown to someone else (EPERM, as on ext4).
#
# Debian's udev makes /dev/fuse mode 0666; where it is 0600 (these VMs) the test opens it up
# for its duration and restores the mode at exit.
#
# Usage: it_user.sh FROZENFS_BINARY   (or env FROZENFS; run as root)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_fake && ft_fail "it_user needs the real daemon (FT_FAKE is set)"
[ "$(id -u)" -eq 0 ] || ft_fail "it_user runs as root (it acts as user 65534)"
ft_need "setpriv (util-linux)" setpriv

U=65534
T=$FT_TMP
chmod 0755 "$T"
H=$T/home	# the user's own directory, with a copy of the daemon they can execute
mkdir -p "$H"
cp -- "$FROZENFS" "$H/frozenfs"
chmod 0755 "$H/frozenfs"
chown -R "$U:$U" "$H"

old_mode=$(stat -c %a /dev/fuse)
# At exit: /dev/fuse's mode back, and the user's mount removed (root cannot even see into a
# mount without allow_other, so ft_cleanup's mountpoint test would miss it).
user_cleanup()
{
	local rc=$?
	chmod "$old_mode" /dev/fuse
	grep -qs " $H/mnt fuse" /proc/self/mounts && umount -l -- "$H/mnt"
	(exit "$rc")
	ft_cleanup
}
trap user_cleanup EXIT
chmod 0666 /dev/fuse

# as_user CMD...: run a shell command line as user 65534 in $H, with the daemon's env.
as_user()
{
	setpriv --reuid="$U" --regid="$U" --clear-groups --inh-caps=-all \
		env HOME="$H" bash -c "cd '$H' && $1"
}

# A FUSE mount without allow_other is closed to every other user, root included: checks of
# the mount run as the user too.
mounted() { grep -qs " $H/mnt fuse" /proc/self/mounts; }

ft_check "user $U mounts a new store in their own directory"
# In the foreground (-f), in the background of this script: its exit status is ours to see.
as_user 'mkdir -p store mnt && exec ./frozenfs -f store mnt' >"$T/daemon.out" 2>&1 &
pid=$!	# the subshell running as_user: it exits with the daemon's status
ft_wait_until 10 mounted || ft_fail "nothing is mounted on $H/mnt: $(cat "$T/daemon.out")"
ft_assert_eq "$(stat -c %U "$H/store/.frozenfs")" nobody "the superblock's owner"
dpid=$(pgrep -u "$U" -f 'frozenfs -f store mnt' | head -1)
[ -n "$dpid" ] || ft_fail "no frozenfs of user $U runs"
ft_ok "mounted by fusermount3; the daemon (pid $dpid) runs as $(ps -o euser= -p "$dpid")"

ft_check "user $U works in the mount: data, fsync, names, links, modes, xattrs"
head -c 3000000 /dev/urandom >"$T/data"
cp "$T/data" "$H/data"
chown "$U:$U" "$H/data"
as_user '
set -e
cd mnt
printf "hello\n" > a
python3 -c "import os; fd = os.open(\"b\", os.O_WRONLY | os.O_CREAT, 0o640); os.write(fd, b\"durable\"); os.fsync(fd); os.close(fd)"
dd if=../data of=big bs=64k conv=fsync status=none
mkdir -p d/e
ln -s ../a d/sym
ln a d/hard
mkfifo d/fifo
mv b d/e/b2
truncate -s 100000 d/e/b2
truncate -s 3 a
chmod 0604 a
setfattr -n user.note -v frozen big
' >"$T/ops.out" 2>&1 || ft_fail "an operation as user $U failed: $(cat "$T/ops.out")"
as_user 'cmp data mnt/big' || ft_fail "the 3 MB file written with conv=fsync differs"
ft_assert_eq "$(as_user "stat -c '%h %a %s' mnt/a")" "2 604 3" "links, mode and size of a"
ft_assert_eq "$(as_user 'getfattr --only-values -n user.note mnt/big')" frozen "the user xattr"
err=$(as_user 'chown 0 mnt/a' 2>&1) && ft_fail "user $U gave a file to root: $err"
case $err in
*"Operation not permitted"*) ;;
*) ft_fail "chown to root: expected EPERM, got: $err" ;;
esac
ft_ok "all operations done; chown to root refused with EPERM"

# The tree of the mount, read as the user.
manifest() { as_user "cd mnt && find . -printf '%y %m %n %U %s %l %p\n' | LC_ALL=C sort &&
	find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum"; }

ft_check "fusermount3 -u by the user: the daemon drains and exits 0; remount; fsck"
manifest >"$T/live"
as_user 'fusermount3 -u mnt' >"$T/umount.out" 2>&1 ||
	ft_fail "fusermount3 -u as user $U failed: $(cat "$T/umount.out")"
wait "$pid" && rc=0 || rc=$?
ft_assert_eq "$rc" 0 "the daemon's exit status after fusermount3 -u ($(tail -1 "$T/daemon.out"))"
# The second mount daemonizes, as a user's mount usually does.
as_user './frozenfs fsck store' >"$T/fsck.out" 2>&1 || ft_fail "fsck as user $U: $(cat "$T/fsck.out")"
echo 3 >/proc/sys/vm/drop_caches
as_user './frozenfs store mnt' >"$T/mount2.out" 2>&1 ||
	ft_fail "the second mount as user $U failed: $(cat "$T/mount2.out")"
manifest >"$T/after"
cmp -s "$T/live" "$T/after" ||
	ft_fail "the tree differs after the remount: $(diff "$T/live" "$T/after" | head -10)"
pid=$(pgrep -u "$U" -f "frozenfs store mnt" | head -1)
as_user 'fusermount3 -u mnt' || ft_fail "the second fusermount3 -u failed"
ft_wait_until 60 eval "! kill -0 $pid 2>/dev/null" || ft_fail "the second daemon still runs"
ft_ok "the same $(wc -l <"$T/live") lines after a remount; fsck clean"

ft_check "what a user is refused: another's mount point, allow_other without user_allow_other"
mkdir -p "$T/rootdir"
chmod 0755 "$T/rootdir"
out=$(as_user "./frozenfs store '$T/rootdir'" 2>&1) &&
	ft_fail "user $U mounted on root's directory: $out"
ft_assert_eq "$(printf '%s\n' "$out" | grep -c .)" 1 "one line for a mount point not ours: $out"
mountpoint -q "$T/rootdir" && ft_fail "something is mounted on root's directory"
if ! grep -qs '^[[:space:]]*user_allow_other' /etc/fuse.conf; then
	out=$(as_user './frozenfs -o allow_other store mnt' 2>&1) &&
		ft_fail "allow_other was accepted without user_allow_other: $out"
	case $out in
	*user_allow_other*) ;;
	*) ft_fail "allow_other refused without naming user_allow_other: $out" ;;
	esac
	mounted && ft_fail "allow_other mounted anyway"
	ft_say "allow_other: $out"
fi
ft_ok "refused, each with one message"

ft_done
