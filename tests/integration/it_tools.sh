#!/bin/bash
#
# it_tools: everyday tools on a frozenfs mount, each checked byte for byte, then again after a
# remount (so the data came from the backing store, not from anyone's cache).
#
#   - cp -r of a generated tree (~2000 files, 0 B..64 KiB, nested dirs, empty dirs, a symlink);
#   - dd with bs=1, bs=4k, bs=1M (64 MiB), conv=fsync, oflag=direct, oflag=dsync;
#   - tar c/x into the mount and back out;
#   - rsync -a, and a second rsync -a that has nothing to do (--itemize-changes prints nothing,
#     so sizes and mtimes of files and directories were kept exactly);
#   - sqlite3: 1000 one-INSERT transactions with journal_mode=DELETE and with WAL, then
#     PRAGMA integrity_check and the row count, and WAL again on a -o direct_io mount;
#   - git init/add/commit/fsck, gc (repacking), a local clone (hard-linked packs) and a
#     checkout (git is a dependency of this test: apt-get install git);
#   - dpkg --root installing, upgrading and removing a package built here (dpkg writes each
#     file as .dpkg-new, fsyncs it and renames it over the old one), then dpkg --verify;
#   - overlayfs with its upper and work directories in the mount (whiteouts, opaque
#     directories, copy-up), mounted again over the remounted store;
#   - a store on tmpfs (no FALLOC_FL_ZERO_RANGE there): cp -r, and a zeroed range of written
#     data, live and after a remount.
#
# Usage: it_tools.sh FROZENFS_BINARY   (or env FROZENFS). FT_FAKE=bind runs it on plain ext4.

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"

ft_need "see the test dependencies" sha256sum dd tar rsync sqlite3 git cmp dpkg dpkg-deb

T=$FT_TMP
S=$T/store
M=$T/mnt
SRC=$T/src
OUT=$T/out
OPTS=chunk_size=4096,flush_interval_ms=200
mkdir -p "$S" "$M" "$OUT"

# --- the source tree -------------------------------------------------------------------------
ft_check "generating a tree of 2000 files (0 B..64 KiB), nested dirs, empty dirs, a symlink"
mkdir -p "$SRC"
RANDOM=4242
head -c $((4 << 20)) /dev/urandom >"$T/pool"
n=0
for d1 in 0 1 2 3 4 5 6 7 8 9; do
	for d2 in a b c d; do
		dir=$SRC/d$d1/s$d2
		[ "$d2" = d ] && dir=$SRC/d$d1/s$d2/deep/er
		mkdir -p "$dir"
		for k in $(seq 1 50); do
			case $((RANDOM % 10)) in
			0) size=0 ;;
			1) size=1 ;;
			2 | 3) size=$((RANDOM % 4096 + 1)) ;;
			4) size=$(((RANDOM % 16 + 1) * 4096 + RANDOM % 7 - 3)) ;;
			*) size=$(((RANDOM * 2 + RANDOM % 2) % 65536 + 1)) ;;
			esac
			# A random window of the random pool: cheaper than 2000 reads of /dev/urandom.
			tail -c +$((RANDOM * 64 + 1)) "$T/pool" | head -c "$size" >"$dir/f$k.bin"
			n=$((n + 1))
		done
	done
done
mkdir -p "$SRC/empty/dir" "$SRC/with space/and'quote"
printf 'odd name\n' >"$SRC/with space/and'quote/file name"
ln -s ../d0/sa/f1.bin "$SRC/empty/link"
ln -s dangling-target "$SRC/dangling"
ft_ok "generated $n files in $SRC"

mount_fs "$S" "$M" "$OPTS"

# --- cp -r -----------------------------------------------------------------------------------
ft_check "cp -r of the tree into the mount"
ft_assert_cmd "cp -r into the mount" cp -r "$SRC" "$M/tree"
ft_assert_same_tree "$SRC" "$M/tree" "cp -r copy matches (live)"
ft_check ".frozenfs is not visible at the mount root"
ls -A "$M" | grep -qx .frozenfs && ! ft_fake && ft_fail ".frozenfs is listed in the mount root"
ft_ok ".frozenfs not listed"

# --- dd --------------------------------------------------------------------------------------
ft_check "dd with several block sizes and flags, verified by sha256"
head -c 5000 /dev/urandom >"$T/dd.small"
head -c $((1 << 20)) /dev/urandom >"$T/dd.1m"
head -c $((64 << 20)) /dev/urandom >"$T/dd.64m"
head -c $((8 << 20)) /dev/urandom >"$T/dd.8m"
dd_case()
{
	local what=$1 src=$2 dst=$3
	shift 3
	ft_assert_cmd "dd $what" dd if="$src" of="$dst" status=none "$@"
	ft_assert_eq "$(sha256sum <"$dst")" "$(sha256sum <"$src")" "dd $what: sha256"
}
dd_case "bs=1 (5000 B)" "$T/dd.small" "$M/dd.bs1" bs=1
dd_case "bs=4k" "$T/dd.1m" "$M/dd.bs4k" bs=4k
dd_case "bs=1M (64 MiB)" "$T/dd.64m" "$M/dd.bs1m" bs=1M
dd_case "bs=1M conv=fsync" "$T/dd.8m" "$M/dd.fsync" bs=1M conv=fsync
dd_case "bs=4k oflag=direct" "$T/dd.1m" "$M/dd.direct4k" bs=4k oflag=direct
dd_case "bs=1M oflag=direct (8 MiB)" "$T/dd.8m" "$M/dd.direct1m" bs=1M oflag=direct
dd_case "bs=4k oflag=dsync" "$T/dd.1m" "$M/dd.dsync" bs=4k oflag=dsync
dd_case "bs=1 seek into an existing file, conv=notrunc" "$T/dd.small" "$M/dd.bs1" bs=1 conv=notrunc
ft_check "dd iflag=direct reads back what dd wrote"
dd if="$M/dd.direct1m" of="$T/dd.readback" bs=1M iflag=direct status=none ||
	ft_fail "dd iflag=direct read"
ft_assert_same_file "$T/dd.readback" "$T/dd.8m" "dd iflag=direct read back"

# --- tar -------------------------------------------------------------------------------------
ft_check "tar c into the mount, tar x inside the mount, tar c from the mount to outside"
ft_assert_cmd "tar c of the tree into the mount" tar -C "$SRC" -cf "$M/tree.tar" .
ft_assert_cmd "tar tf of the archive in the mount" tar -tf "$M/tree.tar"
mkdir -p "$M/untar"
ft_assert_cmd "tar x inside the mount" tar -C "$M/untar" -xf "$M/tree.tar"
ft_assert_same_tree "$SRC" "$M/untar" "tar x in the mount matches the source"
ft_assert_cmd "tar c from the mount to outside" tar -C "$M/untar" -cf "$OUT/back.tar" .
mkdir -p "$OUT/untar"
ft_assert_cmd "tar x outside" tar -C "$OUT/untar" -xf "$OUT/back.tar"
ft_assert_same_tree "$SRC" "$OUT/untar" "tar round trip out of the mount matches the source"

# --- rsync -----------------------------------------------------------------------------------
ft_check "rsync -a into the mount and back; a second rsync transfers nothing"
ft_assert_cmd "rsync -a into the mount" rsync -a "$SRC/" "$M/rs/"
ft_assert_same_tree "$SRC" "$M/rs" "rsync -a copy matches"
ft_assert_cmd "rsync -a out of the mount" rsync -a "$M/rs/" "$OUT/rs/"
ft_assert_same_tree "$SRC" "$OUT/rs" "rsync -a round trip matches"
rsync_noop()
{
	local what=$1 changes
	changes=$(rsync -a --itemize-changes "$SRC/" "$M/rs/") || ft_fail "$what: rsync failed"
	if [ -n "$changes" ]; then
		printf '%s\n' "$changes" | head -n 10 | sed 's/^/#   /' >&2
		ft_fail "$what: the second rsync -a wanted to change $(printf '%s\n' "$changes" | wc -l) entries"
	fi
	ft_ok "$what: second rsync -a --itemize-changes is empty"
}
rsync_noop "rsync (live)"

# --- sqlite ----------------------------------------------------------------------------------
# 1000 INSERTs in autocommit mode: each one is its own transaction with its own fsyncs.
sqlite_case()
{
	local mode=$1 db=$M/$1.db rows
	ft_check "sqlite3 journal_mode=$mode: 1000 one-INSERT transactions"
	{
		printf 'PRAGMA journal_mode=%s;\n' "$mode"
		printf 'PRAGMA synchronous=FULL;\n'
		printf 'CREATE TABLE t(id INTEGER PRIMARY KEY, v TEXT, b BLOB);\n'
		for i in $(seq 1 1000); do
			printf "INSERT INTO t(v, b) VALUES('row %d', randomblob(%d));\n" "$i" $((i % 700 + 1))
		done
	} >"$T/$mode.sql"
	sqlite3 "$db" <"$T/$mode.sql" >"$T/$mode.out" 2>&1 ||
		ft_fail "sqlite3 ($mode) failed: $(tail -n 5 "$T/$mode.out")"
	ft_assert_eq "$(head -n 1 "$T/$mode.out" | tr 'A-Z' 'a-z')" "$(echo "$mode" | tr 'A-Z' 'a-z')" \
		"sqlite3 accepted journal_mode=$mode"
	sqlite_verify "$mode" "live"
}
sqlite_verify()
{
	local mode=$1 when=$2 db=$M/$1.db
	ft_assert_eq "$(sqlite3 "$db" 'PRAGMA integrity_check;' 2>&1)" ok "sqlite3 $mode integrity_check ($when)"
	ft_assert_eq "$(sqlite3 "$db" 'SELECT count(*), sum(length(b)) FROM t;' 2>&1)" \
		"1000|$(sqlite_blob_sum)" "sqlite3 $mode row count and blob bytes ($when)"
}
sqlite_blob_sum()
{
	local i s=0
	for i in $(seq 1 1000); do s=$((s + i % 700 + 1)); done
	echo "$s"
}
sqlite_case DELETE
sqlite_case WAL

# --- git -------------------------------------------------------------------------------------
ft_check "git init/add/commit/fsck inside the mount"
export GIT_AUTHOR_NAME=it GIT_AUTHOR_EMAIL=it@example.invalid
export GIT_COMMITTER_NAME=it GIT_COMMITTER_EMAIL=it@example.invalid
export GIT_CONFIG_NOSYSTEM=1 HOME=$T
mkdir -p "$M/repo"
cp -r "$SRC/d0" "$SRC/d1" "$SRC/empty" "$M/repo/"
ft_assert_cmd "git init" git -C "$M/repo" init -q
ft_assert_cmd "git add" git -C "$M/repo" add -A
ft_assert_cmd "git commit" git -C "$M/repo" -c core.fsync=all commit -q -m "first commit"
printf 'change\n' >>"$M/repo/d0/sa/f1.bin"
ft_assert_cmd "git commit -a" git -C "$M/repo" commit -q -a -m "second commit"
ft_assert_cmd "git fsck --full" git -C "$M/repo" fsck --full --strict
# gc repacks (packs read through mappings, renamed into place, loose objects unlinked); a
# local clone hard-links the pack files; the clone checks out the first commit.
ft_assert_cmd "git gc --aggressive --prune=now" git -C "$M/repo" gc -q --aggressive --prune=now
ft_assert_cmd "git clone --local" git clone -q --local "$M/repo" "$M/clone"
ft_assert_cmd "git checkout HEAD~1 in the clone" git -C "$M/clone" checkout -q HEAD~1
git_verify()
{
	ft_assert_eq "$(git -C "$M/repo" status --porcelain)" "" "git status clean ($1)"
	ft_assert_eq "$(git -C "$M/repo" rev-list --count HEAD)" 2 "git history has 2 commits ($1)"
	ft_assert_cmd "git fsck --full ($1)" git -C "$M/repo" fsck --full --strict
	ft_assert_eq "$(git -C "$M/clone" status --porcelain)" "" "the clone's status clean ($1)"
	ft_assert_eq "$(git -C "$M/clone" rev-parse HEAD)" "$(git -C "$M/repo" rev-parse HEAD~1)" \
		"the clone is at the first commit ($1)"
	ft_assert_cmd "git fsck --full of the clone ($1)" git -C "$M/clone" fsck --full --strict
}
git_verify live
GIT_HEAD=$(git -C "$M/repo" rev-parse HEAD)

# --- dpkg --------------------------------------------------------------------------------------
# A package manager's write pattern: unpack as .dpkg-new, fsync, rename over; status files
# replaced the same way. Version 1 is installed, then upgraded to 2 (one file changed, one
# dropped, one added), then a second package is installed and removed.
ft_check "dpkg --root: install, upgrade, remove, verify"
deb_build()	# NAME VERSION FILE...: a package with FILEs (usr/share/NAME/FILE, FILE's content)
{
	local name=$1 ver=$2 d=$T/deb/$1-$2
	shift 2
	mkdir -p "$d/DEBIAN" "$d/usr/share/$name" "$d/usr/bin"
	printf 'Package: %s\nVersion: %s\nArchitecture: all\nMaintainer: it <it@example.invalid>\nDescription: it_tools test package\n' \
		"$name" "$ver" >"$d/DEBIAN/control"
	for f in "$@"; do
		head -c $((${#f} * 3001)) "$SRC/d0/sa/f1.bin" >"$d/usr/share/$name/$f"
		printf '%s %s\n' "$f" "$ver" >>"$d/usr/share/$name/$f"
	done
	ln -s "../share/$name/$1" "$d/usr/bin/$name"
	dpkg-deb --root-owner-group -b "$d" "$T/deb/$name-$ver.deb" >/dev/null
}
DR=$M/droot
mkdir -p "$DR/var/lib/dpkg/info" "$DR/var/lib/dpkg/updates" "$DR/var/lib/dpkg/triggers"
touch "$DR/var/lib/dpkg/status" "$DR/var/lib/dpkg/available"
dpkg_root() { dpkg --root="$DR" --log=/dev/null "$@"; }
deb_build itpkg 1 alpha beta gamma
deb_build itpkg 2 alpha gamma delta
deb_build itother 1 one
ft_assert_cmd "dpkg -i itpkg 1" dpkg_root -i "$T/deb/itpkg-1.deb"
ft_assert_cmd "dpkg -i itpkg 2 (upgrade)" dpkg_root -i "$T/deb/itpkg-2.deb"
ft_assert_cmd "dpkg -i itother" dpkg_root -i "$T/deb/itother-1.deb"
ft_assert_cmd "dpkg -r itother" dpkg_root -r itother
dpkg_verify()
{
	ft_assert_eq "$(dpkg-query --root="$DR" -W -f '${Package} ${Version} ${Status}\n' | sort)" \
		"itpkg 2 install ok installed" \
		"dpkg status ($1)"
	ft_assert_cmd "dpkg --verify itpkg ($1)" dpkg --root="$DR" --verify itpkg
	ft_assert_eq "$(dpkg --root="$DR" --verify itpkg)" "" "dpkg --verify reports nothing ($1)"
	ft_assert_eq "$(cd "$DR/usr/share/itpkg" && ls | tr '\n' ' ')" "alpha delta gamma " \
		"itpkg 2's files only ($1)"
	ft_assert_cmd "itpkg's files as packaged ($1)" \
		diff -r "$T/deb/itpkg-2/usr/share/itpkg" "$DR/usr/share/itpkg"
	ft_assert_eq "$(readlink "$DR/usr/bin/itpkg")" "../share/itpkg/alpha" "itpkg's link ($1)"
	ft_assert_eq "$([ -e "$DR/usr/share/itother" ] || echo gone)" gone "itother removed ($1)"
}
dpkg_verify live

# --- overlayfs with the mount as its upper layer -----------------------------------------------
# overlayfs takes a FUSE upper layer only with RENAME_WHITEOUT, trusted.* xattrs and d_type.
ft_check "overlayfs with its upper and work directories in the mount"
LOW=$T/lower
OV=$T/ovl
mkdir -p "$LOW/d" "$M/ovl/upper" "$M/ovl/work" "$OV"
printf 'lower\n' >"$LOW/l"
printf 'x\n' >"$LOW/d/f"
printf 'keep\n' >"$LOW/keep"
ovl_mount()
{
	ft_assert_cmd "mount overlay ($1)" mount -t overlay overlay \
		-o "lowerdir=$LOW,upperdir=$M/ovl/upper,workdir=$M/ovl/work" "$OV"
	FT_MOUNTS+=("$OV")
}
ovl_verify()
{
	ft_assert_eq "$(cd "$OV" && ls -A | tr '\n' ' ')" "d keep n " "overlay listing ($1)"
	ft_assert_eq "$(cat "$OV/keep")" "$(printf 'keep\nmore')" "overlay copy-up ($1)"
	ft_assert_eq "$(ls -A "$OV/d" | tr '\n' ' ')" "g " "overlay opaque directory ($1)"
	ft_assert_eq "$(stat -c '%F %t:%T' "$M/ovl/upper/l")" "character special file 0:0" \
		"whiteout of l in the upper layer ($1)"
}
ovl_mount live
rm "$OV/l"
rm -r "$OV/d"
mkdir "$OV/d"
printf 'g\n' >"$OV/d/g"
printf 'more\n' >>"$OV/keep"
printf 'n\n' >"$OV/n"
mv "$OV/n" "$OV/n2" && mv "$OV/n2" "$OV/n"
ovl_verify live
ft_assert_cmd "umount overlay" umount "$OV"

# --- remount and check everything again ------------------------------------------------------
ft_check "unmount, remount, and verify everything from the store"
remount_fs "$S" "$M" "$OPTS"
ft_assert_same_tree "$SRC" "$M/tree" "cp -r copy after remount"
ft_assert_eq "$(sha256sum <"$M/dd.bs1")" "$(sha256sum <"$T/dd.small")" "dd bs=1 after remount"
ft_assert_eq "$(sha256sum <"$M/dd.bs4k")" "$(sha256sum <"$T/dd.1m")" "dd bs=4k after remount"
ft_assert_eq "$(sha256sum <"$M/dd.bs1m")" "$(sha256sum <"$T/dd.64m")" "dd bs=1M after remount"
ft_assert_eq "$(sha256sum <"$M/dd.fsync")" "$(sha256sum <"$T/dd.8m")" "dd conv=fsync after remount"
ft_assert_eq "$(sha256sum <"$M/dd.direct4k")" "$(sha256sum <"$T/dd.1m")" "dd oflag=direct 4k after remount"
ft_assert_eq "$(sha256sum <"$M/dd.direct1m")" "$(sha256sum <"$T/dd.8m")" "dd oflag=direct 1M after remount"
ft_assert_eq "$(sha256sum <"$M/dd.dsync")" "$(sha256sum <"$T/dd.1m")" "dd oflag=dsync after remount"
ft_assert_same_tree "$SRC" "$M/untar" "tar x in the mount after remount"
ft_assert_same_tree "$SRC" "$M/rs" "rsync copy after remount"
rsync_noop "rsync (after remount)"
sqlite_verify DELETE "after remount"
sqlite_verify WAL "after remount"
git_verify "after remount"
ft_assert_eq "$(git -C "$M/repo" rev-parse HEAD)" "$GIT_HEAD" "git HEAD after remount"
dpkg_verify "after remount"
ovl_mount "after remount"
ovl_verify "after remount"
ft_assert_cmd "umount overlay" umount "$OV"

# --- sqlite WAL with -o direct_io: its index is a shared mapping ---------------------------------
remount_fs "$S" "$M" "$OPTS,direct_io"
sqlite_verify WAL "on a direct_io mount"
ft_assert_cmd "sqlite3 WAL transactions on a direct_io mount" sqlite3 "$M/WAL.db" \
	"INSERT INTO t(v, b) VALUES('dio', randomblob(10)); DELETE FROM t WHERE v = 'dio';"
sqlite_verify WAL "after writing on a direct_io mount"
umount_fs "$M"

# --- a store on tmpfs, which has no FALLOC_FL_ZERO_RANGE -----------------------------------------
ft_check "a store on tmpfs: cp -r, dd, and fallocate --zero-range on written data"
TS=$T/tmpfs
mkdir -p "$TS"
ft_assert_cmd "mount a tmpfs for the store" mount -t tmpfs -o size=256m tmpfs "$TS"
FT_MOUNTS+=("$TS")
mkdir -p "$TS/store"
mount_fs "$TS/store" "$M" "$OPTS"
cp -r "$SRC" "$M/tree" || ft_fail "cp -r into the tmpfs-backed mount"
head -c $((256 * 1024)) "$T/dd.1m" >"$T/zr.want"
# fsync: the bytes are in the backing file, where tmpfs refuses ZERO_RANGE.
cp "$T/zr.want" "$M/zr" && sync "$M/zr" || ft_fail "write and fsync zr"
ft_assert_cmd "fallocate --zero-range over written data" \
	fallocate --zero-range --offset 10000 --length 100000 "$M/zr"
dd if=/dev/zero of="$T/zr.want" bs=1 seek=10000 count=100000 conv=notrunc status=none
ft_assert_same_file "$M/zr" "$T/zr.want" "zeroed range, live"
remount_fs "$TS/store" "$M" "$OPTS"
ft_assert_same_file "$M/zr" "$T/zr.want" "zeroed range after remount"
ft_assert_same_tree "$SRC" "$M/tree" "cp -r copy on tmpfs after remount"
umount_fs "$M"
ft_assert_cmd "unmount the tmpfs" umount "$TS"

ft_done
