#!/bin/bash
#
# it_fsck: the mkfs and fsck subcommands against real stores and a real mount.
#
#   - mkfs: a new store mounts and keeps mkfs's chunk size; mkfs refuses (exit 1, one line,
#     nothing touched) a non-empty directory that is not a store, an existing store, a missing
#     directory and a bad -c;
#   - fsck on a clean store: exit 0; on a mounted store (or its mountpoint): refused with exit
#     8, and the mount is unharmed; usage errors: 16; an empty or missing directory: 8;
#   - a corrupt superblock (magic destroyed and truncated: nothing recorded): exit 4,
#     --repair alone cannot fix it (4), --repair -c fixes it (1), then fsck says 0, the store
#     mounts and every file reads back as before; a truncated superblock whose chunk size
#     survives is repaired without -c;
#   - an unreadable file (mode 000, fsck run without CAP_DAC_OVERRIDE when we are root): 4,
#     naming the file; the store is otherwise fine;
#   - a leftover temp superblock: 4, --repair moves it to lost+found (1), then 0.
#
# Usage: it_fsck.sh FROZENFS_BINARY   (or env FROZENFS)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_fake && ft_fail "it_fsck needs the real daemon (FT_FAKE is set)"

T=$FT_TMP
MNT=$T/mnt
mkdir -p "$MNT"

snapshot()
{
	(
		cd -- "$1" || exit 1
		find . -mindepth 1 -printf '%p %y %s %m\n' | LC_ALL=C sort
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	)
}

get_le32() { od -An -tu4 -j "$2" -N 4 -- "$1" | tr -d ' '; }

# run_tool WANT_RC WHAT ARGS...: run "frozenfs ARGS", expect exit WANT_RC; output in $T/out,
# $T/err.
run_tool()
{
	local want=$1 what=$2 rc
	shift 2
	timeout -k 5 120 "$FROZENFS" "$@" >"$T/out" 2>"$T/err" && rc=0 || rc=$?
	if [ "$rc" -ne "$want" ]; then
		sed 's/^/#   out: /' "$T/out" >&2
		sed 's/^/#   err: /' "$T/err" >&2
		ft_fail "$what: 'frozenfs $*' exited $rc, expected $want"
	fi
	ft_ok "$what (exit $rc)"
}

expect_in() # FILE TEXT WHAT
{
	grep -qF -- "$2" "$1" || ft_fail "$3: '$2' not in $(basename "$1"): $(head -c 600 "$1")"
	ft_ok "$3"
}

one_line_err()
{
	local n
	n=$(wc -l <"$T/err")
	[ "$n" -eq 1 ] ||
		ft_fail "$1: expected one line on stderr, got $n: $(head -c 400 "$T/err")"
	case $(cat "$T/err") in
	frozenfs:*) ;;
	*) ft_fail "$1: stderr does not start with 'frozenfs:': $(cat "$T/err")" ;;
	esac
	ft_ok "$1: one line on stderr"
}

# --- mkfs ------------------------------------------------------------------------------------
S=$T/store
mkdir -p "$S"
ft_check "mkfs creates a store that mounts and keeps mkfs's chunk size"
run_tool 0 "mkfs -c 8K on an empty directory" mkfs -c 8K "$S"
[ -f "$S/.frozenfs" ] || ft_fail "mkfs left no superblock"
ft_assert_eq "$(get_le32 "$S/.frozenfs" 12)" 8192 "superblock records chunk size 8192"
mount_fs "$S" "$MNT" chunk_size=4096	# ignored: the superblock decides
printf 'hello\n' >"$MNT/a" || ft_fail "write a"
mkdir -p "$MNT/dir/sub" || ft_fail "mkdir"
head -c 300000 /dev/urandom >"$MNT/dir/sub/big" || ft_fail "write big"
ln -s a "$MNT/link" || ft_fail "symlink"
mkfifo "$MNT/dir/fifo" || ft_fail "mkfifo"
sync "$MNT/a" "$MNT/dir/sub/big"
ft_assert_eq "$(get_le32 "$S/.frozenfs" 12)" 8192 "mount kept mkfs's chunk size"

ft_check "fsck refuses a mounted store with exit 8; the mount is unharmed"
before=$(snapshot "$S")
run_tool 8 "fsck of a mounted store" fsck "$S"
one_line_err "fsck of a mounted store"
expect_in "$T/err" "store is mounted" "the refusal says the store is mounted"
run_tool 8 "fsck --repair -c 4096 of a mounted store" fsck --repair -c 4096 "$S"
[ "$before" = "$(snapshot "$S")" ] || ft_fail "fsck of a mounted store changed the store"
run_tool 8 "fsck of the mountpoint instead of the backing directory" fsck --repair -c 4096 "$MNT"
expect_in "$T/err" "is a FUSE mount" "fsck of the mountpoint says why it refuses"
ft_assert_eq "$(cat "$MNT/a")" hello "mount still reads after the refused fsck"
umount_fs "$MNT"
cp -a "$S" "$T/store.orig"
manifest_orig=$(ft_manifest "$S")

NS=$T/notstore
mkdir -p "$NS"
printf 'precious\n' >"$NS/data"
before=$(snapshot "$NS")
run_tool 1 "mkfs refuses a non-empty directory that is not a store" mkfs "$NS"
one_line_err "mkfs on a non-empty directory"
expect_in "$T/err" "not empty" "the refusal says the directory is not empty"
[ "$before" = "$(snapshot "$NS")" ] || ft_fail "refused mkfs changed $NS"
before=$(snapshot "$S")
run_tool 1 "mkfs refuses an existing store" mkfs -c 4096 "$S"
one_line_err "mkfs on an existing store"
expect_in "$T/err" "already holds a frozenfs store" "the refusal names the existing store"
[ "$before" = "$(snapshot "$S")" ] || ft_fail "refused mkfs changed the store"
run_tool 1 "mkfs refuses a missing directory" mkfs "$T/nope"
[ ! -e "$T/nope" ] || ft_fail "mkfs created the missing directory"
mkdir -p "$T/e1"
run_tool 1 "mkfs refuses -c 3000" mkfs -c 3000 "$T/e1"
one_line_err "mkfs -c 3000"
[ -z "$(ls -A "$T/e1")" ] || ft_fail "mkfs with a bad -c left files behind"
run_tool 0 "mkfs --help" mkfs --help
expect_in "$T/out" "usage: frozenfs mkfs" "mkfs --help prints its usage"

# --- fsck: clean, usage, not a store --------------------------------------------------------
run_tool 0 "fsck of a clean store" fsck "$S"
expect_in "$T/out" ": clean" "fsck says clean"
expect_in "$T/out" "2 files" "fsck counted the two regular files"
run_tool 0 "fsck -v of a clean store" fsck -v "$S"
expect_in "$T/out" "dir/sub/big: ok, 300000 bytes" "fsck -v lists a checked file"
expect_in "$T/out" "dir/fifo: FIFO (not read)" "fsck -v lists the FIFO without reading it"
run_tool 16 "fsck with an unknown option" fsck --bogus "$S"
one_line_err "fsck usage error"
run_tool 16 "fsck --repair -n" fsck --repair -n "$S"
run_tool 16 "fsck without DIR" fsck
run_tool 8 "fsck of a missing directory" fsck "$T/nope"
one_line_err "fsck of a missing directory"
mkdir -p "$T/empty"
run_tool 8 "fsck of an empty directory" fsck --repair -c 4096 "$T/empty"
expect_in "$T/err" "not a frozenfs store" "fsck of an empty directory says it is not a store"
[ -z "$(ls -A "$T/empty")" ] || ft_fail "fsck made the empty directory a store"
run_tool 0 "fsck --help" fsck --help
expect_in "$T/out" "16 usage error" "fsck --help documents the exit codes"

# --- a corrupt superblock ---------------------------------------------------------------------
ft_check "corrupt superblock: 4, --repair alone 4, --repair -c 1, then 0 and the store mounts"
printf 'XXXXXXXXXXXXXXXX' | dd of="$S/.frozenfs" conv=notrunc status=none
truncate -s 40 "$S/.frozenfs"
run_tool 4 "fsck of a corrupt superblock" fsck "$S"
expect_in "$T/out" "corrupt superblock: short superblock (40 bytes)" "fsck names the damage"
expect_in "$T/out" "--repair -c CHUNK" "fsck says how to repair it"
run_tool 4 "fsck --repair without a chunk size cannot fix it" fsck --repair "$S"
run_tool 1 "fsck --repair -c 8192 fixes it" fsck --repair -c 8192 "$S"
expect_in "$T/out" "wrote a new superblock (chunk size 8192, from -c)" "fsck says what it wrote"
[ -f "$S/lost+found/superblock.damaged" ] || ft_fail "the damaged superblock was not kept"
ft_ok "the damaged superblock is kept in lost+found"
run_tool 0 "fsck after the repair" fsck "$S"
mount_fs "$S" "$MNT"
ft_assert_eq "$(cat "$MNT/a")" hello "file a after the superblock repair"
ft_assert_same_file "$T/store.orig/dir/sub/big" "$MNT/dir/sub/big" "big file after the repair"
umount_fs "$MNT"

ft_check "truncated superblock that still records its chunk size: --repair alone fixes it"
truncate -s 20 "$S/.frozenfs"
run_tool 4 "fsck of a truncated superblock" fsck "$S"
expect_in "$T/out" "short superblock" "fsck names the truncation"
run_tool 1 "fsck --repair with the recorded chunk size" fsck --repair "$S"
ft_assert_eq "$(get_le32 "$S/.frozenfs" 12)" 8192 "the rewritten superblock keeps chunk size 8192"
run_tool 0 "fsck after the second repair" fsck "$S"

# --- an unreadable file ----------------------------------------------------------------------
ft_check "an unreadable file is reported by name with exit 4"
chmod 000 "$S/dir/sub/big"
if [ "$(id -u)" -eq 0 ]; then
	# root reads any file; without these two capabilities file modes apply to it too.
	command -v setpriv >/dev/null || ft_fail "setpriv (util-linux) is missing"
	NOCAP=(setpriv --inh-caps=-dac_override,-dac_read_search
		--bounding-set=-dac_override,-dac_read_search)
else
	NOCAP=()
fi
"${NOCAP[@]}" "$FROZENFS" fsck "$S" >"$T/out" 2>"$T/err" && rc=0 || rc=$?
ft_assert_eq "$rc" 4 "fsck exit status with an unreadable file"
expect_in "$T/out" "dir/sub/big: unreadable: cannot open: Permission denied" \
	"fsck names the unreadable file"
chmod 644 "$S/dir/sub/big"
run_tool 0 "fsck once the file is readable again" fsck "$S"

# --- crash leftovers -------------------------------------------------------------------------
ft_check "a leftover temp superblock is moved to lost+found by --repair"
cp "$S/.frozenfs" "$S/.frozenfs.tmp"
run_tool 4 "fsck with a leftover .frozenfs.tmp" fsck -n "$S"
expect_in "$T/out" ".frozenfs.tmp: leftover of an interrupted store creation" \
	"fsck names the leftover"
run_tool 1 "fsck --repair moves the leftover" fsck --repair "$S"
[ ! -e "$S/.frozenfs.tmp" ] && [ -f "$S/lost+found/frozenfs.tmp" ] ||
	ft_fail "the leftover was not moved to lost+found"
ft_ok "leftover moved to lost+found/frozenfs.tmp"
run_tool 0 "fsck after moving the leftover" fsck "$S"

ft_check "the repaired store mounts and holds the same files"
mount_fs "$S" "$MNT"
ft_assert_eq "$(cat "$MNT/a")" hello "file a after all repairs"
ft_assert_same_file "$T/store.orig/dir/sub/big" "$MNT/dir/sub/big" "big file after all repairs"
umount_fs "$MNT"
manifest_now=$(ft_manifest "$S" | grep -v 'lost+found')
[ "$manifest_now" = "$(printf '%s\n' "$manifest_orig" | grep -v 'lost+found')" ] ||
	ft_fail "the store's files differ from before the damage"
ft_ok "the store's files are the same as before the damage"

ft_done
