#!/bin/bash
#
# it_install: `meson install --destdir` puts every file in place, and a store mounts through
# mount(8) from an fstab-style line.
#
#   - the daemon, frozenfs-ctl, /sbin/mount.frozenfs (executable), the three man pages (man
#     renders them, and frozenfs(8) mentions mkfs and fsck) and the systemd and fstab
#     examples (each starts with a comment saying what it is for and how to install it).
#   - In a private mount namespace, the installed helper is laid over /usr/sbin (overlayfs),
#     so mount(8) finds /sbin/mount.frozenfs without touching the host. A temporary fstab
#     with `BACKING MNT frozenfs defaults,nofail,_netdev,... 0 0` is used by `mount -T`; the
#     installed frozenfs-ctl syncs the mount; umount(8) unmounts it and the daemon exits; a
#     second mount through the same line shows the data.
#
# Usage: it_install.sh FROZENFS_BINARY   (env FROZENFS_BUILD: the meson build directory)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$1"
ft_fake && ft_fail "it_install needs the real daemon"
BUILD=${FROZENFS_BUILD:-$(dirname -- "$FROZENFS")/..}
[ -f "$BUILD/meson-info/intro-installed.json" ] ||
	ft_fail "'$BUILD' is not a meson build directory (set FROZENFS_BUILD)"
for t in meson man unshare findmnt; do
	command -v "$t" >/dev/null || ft_fail "$t is missing"
done
grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null ||
	ft_fail "overlayfs is not available (needed to show mount(8) the helper privately)"

T=$FT_TMP
D=$T/dest

ft_check "meson install --destdir puts every file in place"
meson install -C "$BUILD" --destdir "$D" --no-rebuild --quiet >"$T/install.log" 2>&1 ||
	ft_fail "meson install failed: $(tail -5 "$T/install.log")"
# one FILE: the only installed file matching the find(1) -path pattern FILE
one()
{
	local f
	f=$(find "$D" -path "$D/$1" \( -type f -o -type l \))
	[ -n "$f" ] && [ "$(printf '%s\n' "$f" | wc -l)" -eq 1 ] ||
		ft_fail "installed files matching $1: '${f:-none}'"
	printf '%s\n' "$f"
}
DAEMON=$(one '*/bin/frozenfs')
CTLI=$(one '*/bin/frozenfs-ctl')
HELPER=$(one 'sbin/mount.frozenfs')
for f in "$DAEMON" "$CTLI" "$HELPER"; do
	[ -x "$f" ] || ft_fail "$f is not executable"
done
ft_ok "daemon ${DAEMON#"$D"}, ctl ${CTLI#"$D"}, helper ${HELPER#"$D"}"
"$DAEMON" --version | grep -q '^frozenfs version' || ft_fail "installed daemon --version"
"$CTLI" --version | grep -q '^frozenfs-ctl version' || ft_fail "installed frozenfs-ctl --version"
ft_ok "the installed binaries run"
MAN8=$(dirname -- "$(one '*/man/man8/frozenfs.8')")
MANROOT=$(dirname -- "$MAN8")
for p in frozenfs frozenfs-ctl mount.frozenfs; do
	[ -f "$MAN8/$p.8" ] || ft_fail "man page $p.8 is not in $MAN8"
	out=$(MANWIDTH=100 man -M "$MANROOT" 8 "$p" 2>"$T/man.err") ||
		ft_fail "man -M $MANROOT 8 $p failed: $(cat "$T/man.err")"
	printf '%s\n' "$out" | grep -q "^NAME" || ft_fail "man $p has no NAME section"
done
out=$(MANWIDTH=100 man -M "$MANROOT" 8 frozenfs 2>/dev/null)
for w in 'frozenfs mkfs' 'frozenfs fsck' 'log_level=LEVEL'; do
	printf '%s\n' "$out" | grep -q -- "$w" || ft_fail "frozenfs(8) does not mention '$w'"
done
ft_ok "man frozenfs, frozenfs-ctl, mount.frozenfs render (in ${MANROOT#"$D"})"
for f in mnt-data.mount mnt-data.automount fstab.example; do
	p=$(one "*/share/doc/frozenfs/examples/$f")
	head -1 "$p" | grep -q "^# $f: " || ft_fail "$f does not start with a '# $f: ...' comment"
	grep -qi '^# install' "$p" || ft_fail "$f does not say how to install it"
done
ft_ok "systemd and fstab examples in $(dirname -- "${p#"$D"}")"

ft_check "mount -T FSTAB through mount(8) and the installed helper; umount"
B=$T/store
M=$T/mnt
mkdir -p "$B" "$M" "$T/sbin"
cp "$HELPER" "$T/sbin/" || ft_fail "copy helper"
printf '# test fstab\n%s %s frozenfs defaults,nofail,_netdev,flush_interval_ms=600000 0 0\n' \
	"$B" "$M" >"$T/fstab"
head -c 150000 /dev/urandom >"$T/data"
cat >"$T/ns.sh" <<'NS'
set -u
T=$1 M=$2 B=$3 CTLI=$4 BIN=$5
fail() { echo "ns: $*" >&2; exit 1; }
gone() { ! pgrep -f -- "frozenfs.* $B $M" >/dev/null; }
wait_gone() { for _ in $(seq 1 500); do gone && return 0; sleep 0.02; done; return 1; }
mount -t overlay overlay -o "lowerdir=$T/sbin:/usr/sbin" /usr/sbin || fail "overlay on /usr/sbin"
[ -x /sbin/mount.frozenfs ] || fail "/sbin/mount.frozenfs not visible"
# mount(8) resets PATH for helpers but passes FROZENFS on: name the installed daemon.
export FROZENFS=$BIN/frozenfs
out=$(mount -T "$T/fstab" "$M" 2>&1) || fail "mount -T $T/fstab $M exited $?: $out"
[ -z "$out" ] || fail "mount(8) printed something on success: $out"
[ "$(findmnt -no FSTYPE -- "$M")" = fuse.frozenfs ] || fail "type: $(findmnt -no FSTYPE -- "$M")"
[ "$(findmnt -no SOURCE -- "$M")" = "$B" ] || fail "source: $(findmnt -no SOURCE -- "$M")"
echo "ok: mounted through mount(8) as fuse.frozenfs"
cp "$T/data" "$M/file" || fail "cp"
"$CTLI" status "$M" | grep -q '^flush_interval_ms: 600000$' ||
	fail "the fstab option did not arrive"
"$CTLI" sync "$M" || fail "installed frozenfs-ctl sync exited $?"
cmp -s "$T/data" "$B/file" || fail "backing file incomplete after frozenfs-ctl sync"
echo "ok: fstab options reach the daemon; installed frozenfs-ctl syncs"
umount "$M" || fail "umount $M"
wait_gone || fail "daemon still running 10 s after umount"
mountpoint -q "$M" && fail "still mounted after umount"
echo "ok: umount(8) unmounted it and the daemon exited"
mount -T "$T/fstab" "$M" || fail "second mount -T"
cmp -s "$T/data" "$M/file" || fail "data differs after the second mount"
umount "$M" || fail "second umount"
wait_gone || fail "daemon still running after the second umount"
echo "ok: same data after a second mount through the fstab line"
NS
unshare -m --propagation private bash "$T/ns.sh" "$T" "$M" "$B" "$CTLI" "$(dirname -- "$DAEMON")" \
	>"$T/ns.out" 2>&1 && rc=0 || rc=$?
sed 's/^/# /' "$T/ns.out"
[ "$rc" -eq 0 ] || ft_fail "mount(8) through the fstab line: $(grep '^ns:' "$T/ns.out" | tail -1)"
ft_assert_eq "$(grep -c '^ok:' "$T/ns.out")" 4 "mount(8), frozenfs-ctl, umount(8), remount"

ft_done
