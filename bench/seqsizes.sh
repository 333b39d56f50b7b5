#!/bin/bash
#
# seqsizes: sequential write throughput by file size, frozenfs against its raw backing
# directory in the same run (issue 5: "how throughput scales ... with file sizes up to 8 GiB").
#
# For each size, `dd if=/dev/zero bs=1M count=SIZE conv=fsync` into BASE/raw and into a
# frozenfs mount of BASE/store, caches dropped before each run. The order alternates between
# rounds (raw first in odd rounds, frozenfs first in even ones): on these VMs whichever side
# first fills page cache from memory the host has not backed yet pays for it (bench/RESULTS.md).
# One unmeasured 128 MiB write into the mount comes first, so that the kernel memory a new
# mount's first large write touches is not charged to the first size.
#
# A file deleted in the mount is freed only when the daemon closes its backing file, after
# the kernel's FORGET; with ext4's `discard` that close discards the blocks and holds the
# journal meanwhile (an 8 GiB file: about 3 s). raw pays that inside its rm. So each delete
# waits for the space to come back before the next run, or frozenfs would pay it there.
#
# Usage: bench/seqsizes.sh [--rounds=N] [--sizes=MB,MB,...] [--base=DIR] [--frozenfs=PATH]
#                          [--opts=MOUNT_OPTIONS]
#   defaults: 2 rounds; sizes 128,512,1024,2048,4096,8192 MiB (needs 2x the largest size of
#   free disk and of free memory); BASE a fresh mktemp -d /var/tmp/seqsizes.XXXXXX.
# Needs root (drop_caches, FUSE).

set -u
ROUNDS=2
SIZES=128,512,1024,2048,4096,8192
BASE=
FROZENFS=
OPTS=
for a in "$@"; do
	case $a in
	--rounds=*) ROUNDS=${a#*=} ;;
	--sizes=*) SIZES=${a#*=} ;;
	--base=*) BASE=${a#*=} ;;
	--frozenfs=*) FROZENFS=${a#*=} ;;
	--opts=*) OPTS=${a#*=} ;;
	-h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "seqsizes: unknown argument $a (see --help)" >&2; exit 2 ;;
	esac
done
die() { echo "seqsizes: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (drop_caches)"
TOP=$(dirname -- "$(cd -- "$(dirname -- "$0")" && pwd)")
if [ -z "$FROZENFS" ]; then
	for f in "$TOP/build/fs/frozenfs" "$TOP/build-it/fs/frozenfs"; do
		[ -x "$f" ] && { FROZENFS=$f; break; }
	done
fi
[ -x "$FROZENFS" ] || die "frozenfs binary not found: build it or pass --frozenfs=PATH"
[ -n "$BASE" ] || BASE=$(mktemp -d /var/tmp/seqsizes.XXXXXX) || die "mktemp failed"
mkdir -p "$BASE" && BASE=$(realpath -- "$BASE") || die "cannot create $BASE"
[ -z "$(ls -A "$BASE")" ] || die "$BASE is not empty"
case $(stat -f -c %T "$BASE") in
tmpfs | ramfs) die "$BASE is on tmpfs: benchmark on a real disk (--base=DIR)" ;;
esac
mkdir -p "$BASE/raw" "$BASE/store" "$BASE/mnt"
DPID=
cleanup() {
	mountpoint -q "$BASE/mnt" && { fusermount3 -u "$BASE/mnt" 2>/dev/null || fusermount3 -uz "$BASE/mnt"; }
	[ -n "$DPID" ] && wait "$DPID" 2>/dev/null
	grep -qF " $BASE/" /proc/self/mountinfo || rm -rf -- "$BASE"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
"$FROZENFS" -f ${OPTS:+-o "$OPTS"} "$BASE/store" "$BASE/mnt" 2>"$BASE/daemon.log" &
DPID=$!
for _ in $(seq 1 200); do
	mountpoint -q "$BASE/mnt" && break
	kill -0 "$DPID" 2>/dev/null || die "frozenfs exited: $(cat "$BASE/daemon.log")"
	sleep 0.05
done
mountpoint -q "$BASE/mnt" || die "frozenfs did not mount within 10 s"

free_blocks() { stat -f -c %f "$BASE"; }
# Prints MB/s of one dd of $2 MiB into directory $1, then deletes the file and waits for it.
one() {
	local before t0 t1 k
	sync
	echo 3 >/proc/sys/vm/drop_caches
	before=$(free_blocks)
	t0=$(date +%s.%N)
	dd if=/dev/zero of="$1/seq" bs=1M count="$2" conv=fsync status=none || return 1
	t1=$(date +%s.%N)
	rm -f -- "$1/seq"
	for k in $(seq 1 1200); do
		[ "$(free_blocks)" -ge $((before - 1024)) ] && break
		sleep 0.05
	done
	[ "$k" -lt 1200 ] || echo "# warning: the space of $1/seq not back after 60 s" >&2
	echo "$2 $t0 $t1" | awk '{ printf "%.0f", $1 * 1.048576 / ($3 - $2) }'
}

one "$BASE/mnt" 128 >/dev/null || die "warm-up write failed"
echo "# seqsizes: $ROUNDS rounds, frozenfs $FROZENFS ${OPTS:+-o $OPTS}, base $BASE"
printf '%-7s %10s %8s %10s %7s\n' round "size MiB" "raw MB/s" "frozenfs" ratio
declare -A R
for r in $(seq 1 "$ROUNDS"); do
	for s in ${SIZES//,/ }; do
		if [ $((r % 2)) = 1 ]; then
			a=$(one "$BASE/raw" "$s") && b=$(one "$BASE/mnt" "$s") || die "dd failed"
		else
			b=$(one "$BASE/mnt" "$s") && a=$(one "$BASE/raw" "$s") || die "dd failed"
		fi
		ratio=$(echo "$b $a" | awk '{ printf "%.2f", $1 / $2 }')
		R[$s]="${R[$s]:-} $ratio"
		printf '%-7s %10s %8s %10s %7s\n' "$r" "$s" "$a" "$b" "$ratio"
	done
done
echo "# ratio per size (frozenfs/raw, each round):"
for s in ${SIZES//,/ }; do
	echo "# $s MiB:${R[$s]}"
done
fusermount3 -u "$BASE/mnt" || die "unmount failed"
wait "$DPID" || die "frozenfs exited with status $?: $(tail -3 "$BASE/daemon.log")"
DPID=
