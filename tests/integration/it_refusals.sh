#!/bin/bash
#
# it_refusals: every way frozenfs must refuse to mount, and the two informational exits.
#
# Each refusal (a non-empty directory that is not a store, a corrupt superblock, a missing
# backing directory or mountpoint, bad option values, a second mount of a mounted store) must:
#   - exit with status 1 (we run the daemon in the foreground, -f, and also without -f for the
#     cases a daemon might otherwise only notice after forking),
#   - print exactly one line on stderr, starting with "frozenfs:",
#   - leave the backing directory untouched: the same names, sizes, modes and sha256 sums before
#     and after; in particular an empty directory is not turned into a store by a refused mount,
#   - mount nothing; and for the double mount, the first mount keeps working and unmounts with 0.
# `-h` and `-V` exit 0 and print something.
#
# Usage: it_refusals.sh FROZENFS_BINARY   (or env FROZENFS)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_fake && ft_fail "it_refusals needs the real daemon (FT_FAKE is set)"

T=$FT_TMP
MNT=$T/mnt
mkdir -p "$MNT"

# snapshot DIR: names, types, sizes, modes and content sums of everything below DIR (and DIR's
# own mode), so "untouched" means untouched.
snapshot()
{
	(
		cd -- "$1" || exit 1
		stat -c '%n %F %s %a' .
		find . -mindepth 1 -printf '%p %y %s %m\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	)
}

# crc32c FILE LEN: CRC32C (Castagnoli, reflected, init and final xor ~0) of the first LEN bytes.
crc32c()
{
	local crc=$((0xFFFFFFFF)) b k
	for b in $(od -An -tu1 -v -N "$2" -- "$1"); do
		crc=$((crc ^ b))
		for k in 1 2 3 4 5 6 7 8; do
			if ((crc & 1)); then
				crc=$(((crc >> 1) ^ 0x82F63B78))
			else
				crc=$((crc >> 1))
			fi
		done
	done
	printf '%u' $((crc ^ 0xFFFFFFFF))
}

# put_le32 FILE OFFSET VALUE: overwrite 4 bytes little-endian in place.
put_le32()
{
	local v=$3
	printf "$(printf '\\x%02x\\x%02x\\x%02x\\x%02x' $((v & 255)) $(((v >> 8) & 255)) \
		$(((v >> 16) & 255)) $(((v >> 24) & 255)))" |
		dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

get_le32()
{
	od -An -tu4 -j "$2" -N 4 -- "$1" | tr -d ' '
}

# expect_refusal WHAT BACKING MNT [ARGS...]: run the daemon; it must exit 1 within 20 s with one
# "frozenfs:" line on stderr, mount nothing, and leave BACKING as it was (or absent if absent).
expect_refusal()
{
	local what=$1 backing=$2 mnt=$3 before after rc lines err mounts bad=
	shift 3
	ft_check "refused: $what"
	if [ -e "$backing" ]; then
		before=$(snapshot "$backing")
	else
		before=ABSENT
	fi
	# Mounts on $mnt before and after: one may be there already (a dead one).
	mounts=$(grep -c " $mnt " /proc/self/mountinfo)
	timeout -k 5 20 "$FROZENFS" "$@" "$backing" "$mnt" >"$T/out" 2>"$T/err" && rc=0 || rc=$?
	err=$(cat "$T/err")
	if [ "$(grep -c " $mnt " /proc/self/mountinfo)" -gt "$mounts" ]; then
		fusermount3 -u -- "$mnt" 2>/dev/null || fusermount3 -uz -- "$mnt"
		ft_fail "$what: the refused mount is mounted on $mnt (exit $rc, stderr: $err)"
	fi
	[ "$rc" -ne 124 ] && [ "$rc" -ne 137 ] ||
		ft_fail "$what: frozenfs did not exit within 20 s (it should refuse at once)"
	# The remaining checks are independent: report each, and go on to the next refusal.
	[ "$rc" -eq 1 ] || bad="$bad; exit status $rc, expected 1"
	lines=$(wc -l <"$T/err")
	[ "$lines" -eq 1 ] || bad="$bad; expected exactly one line on stderr, got $lines: $(tr '\n' '|' <"$T/err" | head -c 600)"
	case $err in
	frozenfs:*) ;;
	*) bad="$bad; stderr does not start with 'frozenfs:': $(head -c 300 "$T/err")" ;;
	esac
	if [ "$before" = ABSENT ]; then
		after=ABSENT
		[ -e "$backing" ] && after=PRESENT
	else
		after=$(snapshot "$backing")
	fi
	if [ "$before" != "$after" ]; then
		diff <(printf '%s\n' "$before") <(printf '%s\n' "$after") | head -n 20 | sed 's/^/#   /' >&2
		bad="$bad; the backing directory $backing changed"
	fi
	if [ -n "$bad" ]; then
		ft_soft_fail "$what:${bad#;}"
		return 0
	fi
	ft_ok "$what: exit 1, one line ($err), backing dir untouched"
}

# --- -h and -V -------------------------------------------------------------------------------
ft_check "-h exits 0 and prints a usage text naming the options"
"$FROZENFS" -h >"$T/out" 2>&1 && rc=0 || rc=$?
ft_assert_eq "$rc" 0 "frozenfs -h exit status"
grep -q chunk_size "$T/out" || ft_fail "frozenfs -h does not mention chunk_size: $(head -c 300 "$T/out")"
ft_ok "frozenfs -h mentions chunk_size"

ft_check "-V exits 0 and prints a version"
"$FROZENFS" -V >"$T/out" 2>&1 && rc=0 || rc=$?
ft_assert_eq "$rc" 0 "frozenfs -V exit status"
grep -Eq '[0-9]+\.[0-9]+' "$T/out" || ft_fail "frozenfs -V prints no version: $(head -c 300 "$T/out")"
ft_ok "frozenfs -V prints a version ($(head -n 1 "$T/out"))"

# --- a non-empty directory that is not a store -----------------------------------------------
NS=$T/notstore
mkdir -p "$NS/sub"
printf 'precious\n' >"$NS/data.txt"
head -c 10000 /dev/urandom >"$NS/sub/blob"
expect_refusal "non-empty directory without superblock (-f)" "$NS" "$MNT" -f
expect_refusal "non-empty directory without superblock (no -f)" "$NS" "$MNT"
# A lone hidden file also makes the directory non-empty.
NS2=$T/notstore2
mkdir -p "$NS2"
: >"$NS2/.hidden"
expect_refusal "directory holding only an empty hidden file" "$NS2" "$MNT" -f

# --- missing paths ---------------------------------------------------------------------------
EMPTY=$T/empty
mkdir -p "$EMPTY"
expect_refusal "missing backing directory" "$T/does-not-exist" "$MNT" -f
expect_refusal "missing mountpoint (empty backing dir must stay empty)" "$EMPTY" "$T/no-mnt" -f
[ ! -e "$T/no-mnt" ] || ft_fail "the missing mountpoint $T/no-mnt was created"
ft_ok "missing mountpoint not created"
[ -z "$(ls -A "$EMPTY")" ] || ft_fail "refused mount left files in the empty backing dir: $(ls -A "$EMPTY")"

# --- a mountpoint inside the backing directory ------------------------------------------------
INSIDE=$T/inside
mkdir -p "$INSIDE"
"$FROZENFS" mkfs "$INSIDE" >/dev/null || ft_fail "mkfs $INSIDE"
mkdir -p "$INSIDE/sub/mnt"
expect_refusal "mountpoint inside the backing directory" "$INSIDE" "$INSIDE/sub/mnt" -f
# A sibling whose name only starts with the store's is not inside it.
mkdir -p "${INSIDE}2"
ft_check "a mountpoint beside the store, with a name that extends the store's, is accepted"
"$FROZENFS" "$INSIDE" "${INSIDE}2" || ft_fail "mount of $INSIDE on ${INSIDE}2 refused"
mountpoint -q "${INSIDE}2" || ft_fail "${INSIDE}2 is not mounted"
fusermount3 -u "${INSIDE}2" || ft_fail "unmount ${INSIDE}2"
ft_ok "mounted and unmounted ${INSIDE}2"

# --- bad option values -----------------------------------------------------------------------
for o in chunk_size=3000 chunk_size=32M chunk_size=abc flush_interval_ms=abc errors=bogus; do
	expect_refusal "bad option -o $o on an empty dir" "$EMPTY" "$MNT" -f -o "$o"
done
# Not a frozenfs option: libfuse rejects it, but the user still gets frozenfs's one-line form,
# and the empty directory must not have become a store first.
expect_refusal "unknown option -o nosuchopt on an empty dir" "$EMPTY" "$MNT" -f -o nosuchopt

# --- a store creation that was killed before its superblock was in place --------------------
# What it leaves is .frozenfs.tmp, unlocked: the next mount takes it over (never a refusal).
ft_check "a creation killed before its rename: the next mount takes its temp file over"
KILLED=$T/killed
mkdir -p "$KILLED"
printf 'half a superblock' >"$KILLED/.frozenfs.tmp"
mount_fs "$KILLED" "$MNT" chunk_size=8192
printf 'x\n' >"$MNT/x" || ft_fail "write to the store created over a leftover temp file"
umount_fs "$MNT"
[ ! -e "$KILLED/.frozenfs.tmp" ] || ft_fail "the temp file is still there after the creation"
ft_assert_eq "$(get_le32 "$KILLED/.frozenfs" 12)" 8192 "the new superblock's chunk size"
"$FROZENFS" fsck "$KILLED" >"$T/out" 2>&1 || ft_fail "fsck after the creation: $(cat "$T/out")"
ft_ok "created over the leftover, and fsck is clean"
# The same with real kills, at 0 to 9 ms into the first mount of an empty directory.
for k in $(seq 0 9); do
	rm -rf "$KILLED" && mkdir -p "$KILLED"
	"$FROZENFS" -f "$KILLED" "$MNT" >/dev/null 2>&1 &
	pid=$!
	sleep "0.00$((k % 10))"
	kill -KILL "$pid"
	wait "$pid" 2>/dev/null
	fusermount3 -u -- "$MNT" 2>/dev/null
	left=$(ls -A "$KILLED" | tr '\n' ' ')
	"$FROZENFS" "$KILLED" "$MNT" 2>"$T/err" ||
		ft_fail "mount after a kill $((k % 10)) ms into the creation (left: $left): $(cat "$T/err")"
	fusermount3 -u -- "$MNT" || ft_fail "unmount after the kill-$k mount"
	for w in $(seq 100); do "$FROZENFS" fsck "$KILLED" >/dev/null 2>&1 && break; sleep 0.05; done
	"$FROZENFS" fsck "$KILLED" >"$T/out" 2>&1 || ft_fail "fsck after kill $k: $(cat "$T/out")"
done
ft_ok "10 first mounts killed at 0-9 ms: each store mounted again and checked clean"

# --- a real store for the superblock and double-mount cases --------------------------------------
S=$T/store
mkdir -p "$S"
ft_check "creating a store to corrupt later"
mount_fs "$S" "$MNT" chunk_size=4096
printf 'hello\n' >"$MNT/a" || ft_fail "write to the new store"
head -c 100000 /dev/urandom >"$MNT/b" || ft_fail "write to the new store"
sync "$MNT/a" "$MNT/b"
umount_fs "$MNT"
[ -f "$S/.frozenfs" ] || ft_fail "no superblock $S/.frozenfs after creating a store"
sbsize=$(stat -c %s "$S/.frozenfs")
ft_assert_eq "$sbsize" 64 "superblock size"
want=$(get_le32 "$S/.frozenfs" 60)
got=$(crc32c "$S/.frozenfs" 60)
ft_assert_eq "$got" "$want" "superblock CRC32C matches our own computation (layout sanity)"
ft_assert_eq "$(get_le32 "$S/.frozenfs" 12)" 4096 "superblock records chunk_size=4096"
cp -a "$S/.frozenfs" "$T/sb.good"

for o in chunk_size=3000 chunk_size=32M flush_interval_ms=abc; do
	expect_refusal "bad option -o $o on an existing store" "$S" "$MNT" -f -o "$o"
done

# corrupt NAME EDIT...: apply an edit to a copy of the good superblock, expect a refusal.
corrupt()
{
	local what=$1
	cp "$T/sb.good" "$S/.frozenfs"
	"${@:2}"
	expect_refusal "$what (-f)" "$S" "$MNT" -f
	expect_refusal "$what (no -f)" "$S" "$MNT"
}
bad_magic() { printf 'X' | dd of="$S/.frozenfs" bs=1 seek=0 conv=notrunc status=none; }
bad_crc() {
	local v
	v=$(get_le32 "$S/.frozenfs" 16)
	put_le32 "$S/.frozenfs" 16 $((v ^ 1))
}
bad_version() {
	put_le32 "$S/.frozenfs" 8 7
	put_le32 "$S/.frozenfs" 60 "$(crc32c "$S/.frozenfs" 60)"
}
bad_chunk() {
	put_le32 "$S/.frozenfs" 12 3000
	put_le32 "$S/.frozenfs" 60 "$(crc32c "$S/.frozenfs" 60)"
}
short_sb() { truncate -s 30 "$S/.frozenfs"; }
empty_sb() { truncate -s 0 "$S/.frozenfs"; }

corrupt "superblock with bad magic" bad_magic
corrupt "superblock with bad CRC" bad_crc
corrupt "superblock with version 7 (valid CRC)" bad_version
corrupt "superblock with chunk size 3000 (valid CRC)" bad_chunk
corrupt "short superblock (30 bytes)" short_sb
corrupt "empty superblock" empty_sb
cp "$T/sb.good" "$S/.frozenfs"

# --- a second mount of a mounted store -------------------------------------------------------
ft_check "double mount: refused, first mount unharmed"
mount_fs "$S" "$MNT"
ft_assert_eq "$(cat "$MNT/a")" hello "store content after the corrupt-superblock refusals"
MNT2=$T/mnt2
mkdir -p "$MNT2"
expect_refusal "second mount of a mounted store" "$S" "$MNT2" -f
expect_refusal "second mount of a mounted store (no -f)" "$S" "$MNT2"
ft_assert_eq "$(cat "$MNT/a")" hello "first mount still reads after the refused second mount"
printf 'after\n' >"$MNT/c" || ft_fail "first mount: write after the refused second mount"
sync "$MNT/c" || ft_fail "first mount: fsync after the refused second mount"
ft_assert_eq "$(cat "$MNT/c")" after "first mount still writes after the refused second mount"
umount_fs "$MNT"
mount_fs "$S" "$MNT"
ft_assert_eq "$(cat "$MNT/c")" after "file written after the refused second mount survives remount"
umount_fs "$MNT"

# --- a mount point where a killed daemon's mount is still mounted ----------------------------
ft_check "a dead FUSE mount on the mount point: refused with the fusermount3 -u hint"
mount_fs "$S" "$MNT"
ft_assert_eq "$(cat "$MNT/c")" after "the mount serves (before its daemon is killed)"
kill -KILL "${FT_PID[$MNT]}"
wait "${FT_PID[$MNT]}" 2>/dev/null
unset "FT_PID[$MNT]"
expect_refusal "mount point with a dead FUSE mount on it" "$S" "$MNT" -f
grep -q "fusermount3 -u '$MNT'" "$T/err" ||
	ft_soft_fail "the refusal does not say how to unmount the dead mount: $(cat "$T/err")"
fusermount3 -u -- "$MNT" || ft_fail "fusermount3 -u of the dead mount failed"
mount_fs "$S" "$MNT"
ft_assert_eq "$(cat "$MNT/c")" after "the store mounts again once the dead mount is gone"
umount_fs "$MNT"

ft_done
