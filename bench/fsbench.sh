#!/bin/bash
#
# fsbench: benchmark a frozenfs mount against its own raw backing filesystem, in one run.
#
# Both targets live under one base directory on a real disk (default: a fresh
# mktemp -d /var/tmp/fsbench.XXXXXX; tmpfs is refused): BASE/raw is written directly,
# BASE/mnt is a frozenfs mount of BASE/store. Each workload runs on raw then on frozenfs,
# ROUNDS times (default 3), and the table shows the medians and a ratio where 1.00 means
# "as fast as raw" and below 1 is slower: throughput ratios are frozenfs/raw, time ratios
# are raw/frozenfs. Caches are dropped before every run of every workload, on both sides, so
# each run starts from the same memory state (see bench/RESULTS.md on these VMs' memory).
#
# Workloads:
#   seq write     dd if=/dev/zero bs=1M count=SIZE conv=fsync            MB/s
#   cold read     drop_caches, then dd of that file bs=1M                MB/s
#   rand 4k       4 KiB random writes, no fsync, 1 job (fio psync if installed, else wbench)
#   rand+fds 1j   4 KiB random write + fdatasync each, 1 job             IOPS (wbench)
#   rand+fds 8j   same, 8 jobs, one file per job                          IOPS (wbench)
#   rand+fds 8sh  same, 8 jobs sharing one file                           IOPS (wbench)
#   seq 128k      128 KiB sequential writes, fsync every 32               MB/s (wbench)
#   cp -r small   cp -r of 2000 files of 1 B..16 KiB                      seconds
#   unaligned     1000 writes at random offsets, 1..10000 B, fsync each  seconds (wbench)
#
# With --extra, after the table (one round each, raw and frozenfs in the same run):
#   fsync latency p50/p99 of 4 KiB write + fdatasync, 1 job and 8 jobs/8 files;
#   scaling of 4 KiB write + fdatasync IOPS with 1, 2, 4, 8, 16 jobs (one file each);
#   4 KiB random writes, no fsync, into a laid-out file and into a sparse one (ftruncate);
#   sequential write 1M conv=fsync at 128 MiB, 1 GiB (and 8 GiB with --big);
#   CPU seconds per GiB written (dd 1 GiB conv=fsync: dd's user+sys, plus the daemon's);
#   the daemon's peak RSS (VmHWM) after 8 parallel writers of 256 MiB each, with the pool size.
#
# With --sizes=MB,MB,... instead of all the above: sequential write by file size (issue 5 asks
# how throughput scales up to 8 GiB), the same dd as the seq write row, ROUNDS rounds (default
# 3), raw first in odd rounds and frozenfs first in even ones (whichever side first fills page
# cache from memory the host has not backed yet pays for it). One unmeasured 128 MiB write into
# the mount comes first: a new mount's first large write is slower (bench/RESULTS.md, session
# 15). Needs twice the largest size of free disk and memory.
#
# Usage: bench/fsbench.sh [--quick] [--rounds=N] [--size-mb=N] [--seconds=N] [--base=DIR]
#                         [--frozenfs=PATH] [--wbench=PATH] [--opts=MOUNT_OPTIONS] [--no-fio]
#                         [--passthrough[=PATH]] [--sizes=MB,MB,...]
#   --quick       128 MiB sequential file and 2 s random-write runs (default 1 GiB, 5 s)
#   --extra       the measurements listed above; --big adds the 8 GiB file
#   --passthrough mount libfuse's example passthrough_ll (default options: write-through,
#                 1 s timeouts) instead of frozenfs, as the reference FUSE filesystem the
#                 targets are set against; built as build/bench/passthrough_ll from
#                 libfuse3-dev's examples. Its column is still headed "frozenfs".
#   defaults for the binaries: build/fs/frozenfs and build/bench/wbench, then build-it/...
# Needs root (drop_caches, FUSE). fio is optional (apt-get install fio).

set -u
ROUNDS=3
SIZE_MB=1024
SECS=5
BASE=
FROZENFS=
PASSTHROUGH=
WBENCH=
OPTS=
USE_FIO=1
EXTRA=0
BIG=0
SIZES=
HERE=$(cd -- "$(dirname -- "$0")" && pwd)
TOP=$(dirname -- "$HERE")

for a in "$@"; do
	case $a in
	--quick) SIZE_MB=128; SECS=2 ;;
	--rounds=*) ROUNDS=${a#*=} ;;
	--size-mb=*) SIZE_MB=${a#*=} ;;
	--seconds=*) SECS=${a#*=} ;;
	--base=*) BASE=${a#*=} ;;
	--frozenfs=*) FROZENFS=${a#*=} ;;
	--passthrough) PASSTHROUGH=default ;;
	--passthrough=*) PASSTHROUGH=${a#*=} ;;
	--wbench=*) WBENCH=${a#*=} ;;
	--opts=*) OPTS=${a#*=} ;;
	--no-fio) USE_FIO=0 ;;
	--extra) EXTRA=1 ;;
	--big) BIG=1 ;;
	--sizes=*) SIZES=${a#*=} ;;
	-h | --help) sed -n '2,/^$/p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "fsbench: unknown argument $a (see --help)" >&2; exit 2 ;;
	esac
done

die() { echo "fsbench: $*" >&2; exit 1; }

pick() {
	local f
	for f in "$@"; do
		[ -x "$f" ] && { realpath -- "$f"; return 0; }
	done
	return 1
}
if [ "$PASSTHROUGH" = default ]; then
	PASSTHROUGH=$(pick "$TOP/build/bench/passthrough_ll" "$TOP/build-it/bench/passthrough_ll") ||
		die "passthrough_ll not found: install libfuse3-dev and rebuild, or pass --passthrough=PATH"
fi
[ -n "$FROZENFS" ] || FROZENFS=$(pick "$TOP/build/fs/frozenfs" "$TOP/build-it/fs/frozenfs") ||
	die "frozenfs binary not found: build it or pass --frozenfs=PATH"
[ -n "$WBENCH" ] || WBENCH=$(pick "$TOP/build/bench/wbench" "$TOP/build-it/bench/wbench") ||
	die "wbench not found: build it (ninja -C build bench/wbench) or pass --wbench=PATH"
[ "$(id -u)" = 0 ] || die "run as root (drop_caches)"
[ -c /dev/fuse ] || die "/dev/fuse is missing"
command -v fusermount3 >/dev/null || die "fusermount3 is missing (apt-get install fuse3)"
HAVE_FIO=0
if [ "$USE_FIO" = 1 ] && command -v fio >/dev/null; then
	HAVE_FIO=1
fi

if [ -z "$BASE" ]; then
	BASE=$(mktemp -d /var/tmp/fsbench.XXXXXX) || die "mktemp -d under /var/tmp failed"
fi
mkdir -p "$BASE" || die "cannot create $BASE"
BASE=$(realpath -- "$BASE")
fstype=$(stat -f -c %T "$BASE")
case $fstype in
tmpfs | ramfs) die "$BASE is on $fstype: benchmark on a real disk (--base=DIR)" ;;
esac
[ -z "$(ls -A "$BASE")" ] || die "$BASE is not empty"

RAW=$BASE/raw
STORE=$BASE/store
MNT=$BASE/mnt
mkdir -p "$RAW" "$STORE" "$MNT"
DPID=

cleanup()
{
	if mountpoint -q "$MNT"; then
		fusermount3 -u "$MNT" 2>/dev/null || fusermount3 -uz "$MNT"
	fi
	if [ -n "$DPID" ]; then
		wait "$DPID" 2>/dev/null
	fi
	if ! grep -qF " $BASE/" /proc/self/mountinfo; then
		rm -rf -- "$BASE"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -n "$PASSTHROUGH" ]; then
	"$PASSTHROUGH" -f -o source="$STORE" "$MNT" 2>"$BASE/daemon.log" &
elif [ -n "$OPTS" ]; then
	"$FROZENFS" -f -o "$OPTS" "$STORE" "$MNT" 2>"$BASE/daemon.log" &
else
	"$FROZENFS" -f "$STORE" "$MNT" 2>"$BASE/daemon.log" &
fi
DPID=$!
for _ in $(seq 1 500); do
	mountpoint -q "$MNT" && break
	kill -0 "$DPID" 2>/dev/null || die "frozenfs exited: $(cat "$BASE/daemon.log")"
	sleep 0.02
done
mountpoint -q "$MNT" || die "frozenfs did not mount $MNT within 10 s"

# The small-file tree for cp -r, generated once, outside both targets but on the same disk.
SRC=$BASE/src
mkdir -p "$SRC"
head -c $((4 << 20)) /dev/urandom >"$BASE/pool"
RANDOM=7
for i in $(seq 0 1999); do
	d=$SRC/d$((i % 20))/e$((i % 7))
	[ -d "$d" ] || mkdir -p "$d"
	tail -c +$((RANDOM * 64 + 1)) "$BASE/pool" | head -c $((RANDOM % 16384 + 1)) >"$d/f$i"
done

now() { date +%s.%N; }
elapsed() { echo "$1 $2" | awk '{ printf "%.3f", $2 - $1 }'; }
# A file deleted in the mount is freed when the daemon closes its backing file, after the
# kernel's FORGET: with ext4 `discard` that close discards the file's blocks and holds the
# journal meanwhile (8 GiB took about 3 s here). raw pays that inside its rm; frozenfs would
# pay it in the next run (a 128 MiB dd after an 8 GiB delete: 40 MB/s instead of 800). So a
# delete waits until the space is back (at most 60 s).
del() {
	local k before blocks
	before=$(stat -f -c %f "$BASE")
	blocks=$(du -s -B "$(stat -f -c %S "$BASE")" -- "$@" 2>/dev/null | awk '{ n += $1 } END { print n + 0 }')
	rm -rf -- "$@"
	for k in $(seq 1 1200); do
		[ "$(stat -f -c %f "$BASE")" -ge $((before + blocks - 1024)) ] && return 0
		sleep 0.05
	done
	echo "# warning: the space of deleted $* not back after 60 s" >&2
}
drop_caches() { sync; echo 3 >/proc/sys/vm/drop_caches; }

# Each workload prints one number for directory $1.
w_seqwrite() {
	local t0 t1
	# Same footing for both sides: on these VMs the first touch of never-used guest memory
	# is several times slower than reusing freed page cache, and the other side's file is
	# still cached. Dropping caches first makes every run reuse freed pages.
	drop_caches
	t0=$(now)
	dd if=/dev/zero of="$1/seq" bs=1M count="$SIZE_MB" conv=fsync status=none || return 1
	t1=$(now)
	echo "$SIZE_MB $(elapsed "$t0" "$t1")" | awk '{ printf "%.1f", $1 * 1.048576 / $2 }'
}
# seq_pair MB RAW_FIRST: w_seqwrite of MB MiB on both sides, raw first if RAW_FIRST is 1, each
# file deleted after; prints "raw frozenfs ratio".
seq_pair() {
	local a b
	if [ "$2" = 1 ]; then
		a=$(SIZE_MB=$1 w_seqwrite "$RAW") && del "$RAW/seq" &&
			b=$(SIZE_MB=$1 w_seqwrite "$MNT") && del "$MNT/seq"
	else
		b=$(SIZE_MB=$1 w_seqwrite "$MNT") && del "$MNT/seq" &&
			a=$(SIZE_MB=$1 w_seqwrite "$RAW") && del "$RAW/seq"
	fi || return 1
	echo "$a $b $(echo "$b $a" | awk '{ printf "%.2f", $1 / $2 }')"
}
w_coldread() {
	local t0 t1
	drop_caches
	t0=$(now)
	dd if="$1/seq" of=/dev/null bs=1M status=none || return 1
	t1=$(now)
	del "$1/seq"
	echo "$SIZE_MB $(elapsed "$t0" "$t1")" | awk '{ printf "%.1f", $1 * 1.048576 / $2 }'
}
w_rand_nosync() {
	if [ "$HAVE_FIO" = 1 ]; then
		fio --name=rand4k --directory="$1" --rw=randwrite --bs=4k --size=64M \
			--ioengine=psync --numjobs=1 --runtime="$SECS" --time_based \
			--output-format=terse --terse-version=3 2>/dev/null |
			awk -F';' 'NR == 1 { printf "%.0f", $49 }'
		del "$1"/rand4k.*
	else
		"$WBENCH" randwrite "$1" --bs=4k --size=64M --seconds="$SECS" | sed 's/.*=//'
		del "$1"/wbench.*
	fi
}
w_wb() {
	local dir=$1
	shift
	"$WBENCH" "$@" | sed 's/.*=//'
	del "$dir"/wbench.*
}
w_rand_fds1() { w_wb "$1" randwrite "$1" --bs=4k --size=16M --jobs=1 --sync=fdatasync --seconds="$SECS"; }
w_rand_fds8() { w_wb "$1" randwrite "$1" --bs=4k --size=16M --jobs=8 --sync=fdatasync --seconds="$SECS"; }
w_rand_fds8s() { w_wb "$1" randwrite "$1" --bs=4k --size=64M --jobs=8 --shared --sync=fdatasync --seconds="$SECS"; }
w_seq128() { w_wb "$1" seqwrite "$1" --bs=128K --size=$((SIZE_MB / 4 > 32 ? SIZE_MB / 4 : 32))M --fsync-every=32; }
w_cp() {
	local t0 t1
	drop_caches
	t0=$(now)
	cp -r "$SRC" "$1/cp" || return 1
	t1=$(now)
	del "$1/cp"
	elapsed "$t0" "$t1"
}
w_unaligned() { w_wb "$1" unaligned "$1" --count=1000 --max=10000 --size=16M; }

# name|function|unit|ratio kind (tput: frozen/raw, time: raw/frozen)
WORKLOADS=(
	"seq write 1M conv=fsync|w_seqwrite|MB/s|tput"
	"cold seq read 1M|w_coldread|MB/s|tput"
	"rand 4k write, no fsync, 1 job$([ "$HAVE_FIO" = 1 ] && echo ' (fio)')|w_rand_nosync|IOPS|tput"
	"rand 4k write+fdatasync, 1 job|w_rand_fds1|IOPS|tput"
	"rand 4k write+fdatasync, 8 jobs/8 files|w_rand_fds8|IOPS|tput"
	"rand 4k write+fdatasync, 8 jobs/1 file|w_rand_fds8s|IOPS|tput"
	"seq 128k write, fsync every 32|w_seq128|MB/s|tput"
	"cp -r 2000 files 1B..16K|w_cp|s|time"
	"1000 unaligned writes+fsync each|w_unaligned|s|time"
)

if [ -n "$SIZES" ]; then
	SIZE_MB=128 w_seqwrite "$MNT" >/dev/null && del "$MNT/seq" || die "warm-up write failed"
	echo "# fsbench --sizes: $ROUNDS rounds, frozenfs: ${PASSTHROUGH:-$FROZENFS ${OPTS:+-o $OPTS}}, base $BASE"
	printf '%-6s %9s %9s %9s %6s\n' round "size MiB" "raw MB/s" frozenfs ratio
	for r in $(seq 1 "$ROUNDS"); do
		for mb in ${SIZES//,/ }; do
			v=$(seq_pair "$mb" $((r % 2))) || die "sequential write of $mb MiB failed"
			read -r a b ratio <<<"$v"
			printf '%-6s %9s %9s %9s %6s\n' "$r" "$mb" "$a" "$b" "$ratio"
		done
	done
	exit 0
fi

declare -A R
echo "# fsbench: $ROUNDS rounds, ${SIZE_MB} MiB sequential file, ${SECS} s random runs, base $BASE ($fstype)"
echo "# frozenfs: ${PASSTHROUGH:-$FROZENFS ${OPTS:+-o $OPTS}}; wbench: $WBENCH; fio: $([ "$HAVE_FIO" = 1 ] && fio --version || echo no)"
for r in $(seq 1 "$ROUNDS"); do
	for i in "${!WORKLOADS[@]}"; do
		IFS='|' read -r name fn unit kind <<<"${WORKLOADS[$i]}"
		for target in raw frozenfs; do
			dir=$RAW
			[ "$target" = frozenfs ] && dir=$MNT
			# Every run starts from the same memory state: on these VMs, page cache taken
			# from never-used guest memory costs a host fault per page, and without this
			# the previous run's cached files decide which side gets it.
			drop_caches
			v=$("$fn" "$dir") || die "$name on $target failed"
			[ -n "$v" ] || die "$name on $target printed nothing"
			R[$i,$target]="${R[$i,$target]:-} $v"
			echo "# round $r: $name on $target: $v $unit" >&2
		done
	done
done

median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

printf '\n%-42s %6s %12s %12s %8s\n' "workload (median of $ROUNDS)" unit raw frozenfs ratio
printf '%-42s %6s %12s %12s %8s\n' "------------------------------------------" ------ ------------ ------------ --------
for i in "${!WORKLOADS[@]}"; do
	IFS='|' read -r name fn unit kind <<<"${WORKLOADS[$i]}"
	raw=$(echo "${R[$i,raw]}" | median)
	fz=$(echo "${R[$i,frozenfs]}" | median)
	if [ "$kind" = tput ]; then
		ratio=$(echo "$fz $raw" | awk '{ printf "%.2f", ($2 > 0 ? $1 / $2 : 0) }')
	else
		ratio=$(echo "$raw $fz" | awk '{ printf "%.2f", ($2 > 0 ? $1 / $2 : 0) }')
	fi
	printf '%-42s %6s %12s %12s %8s\n' "$name" "$unit" "$raw" "$fz" "$ratio"
done
echo "# ratio: frozenfs/raw for MB/s and IOPS, raw/frozenfs for seconds; 1.00 = as fast as raw"

# --- --extra ---------------------------------------------------------------------------------
ticks() { awk '{ print $14 + $15 }' "/proc/$DPID/stat"; }	# daemon user+sys, clock ticks
if [ "$EXTRA" = 1 ]; then
	HZ=$(getconf CLK_TCK)
	echo
	echo "# extra measurements (one run each; raw and frozenfs back to back)"
	for j in 1 8; do
		for target in raw frozenfs; do
			dir=$RAW
			[ "$target" = frozenfs ] && dir=$MNT
			v=$("$WBENCH" randwrite "$dir" --bs=4k --size=16M --jobs=$j --sync=fdatasync \
				--seconds="$SECS" --lat) || die "latency run on $target failed"
			del "$dir"/wbench.*
			printf 'fsync latency, %d job(s), %-8s %s\n' "$j" "$target:" "$v"
		done
	done
	printf '\n%-44s %10s %10s %7s\n' "4k write+fdatasync, jobs (one file each)" raw frozenfs ratio
	for j in 1 2 4 8 16; do
		a=$(w_wb "$RAW" randwrite "$RAW" --bs=4k --size=16M --jobs=$j --sync=fdatasync --seconds="$SECS")
		b=$(w_wb "$MNT" randwrite "$MNT" --bs=4k --size=16M --jobs=$j --sync=fdatasync --seconds="$SECS")
		printf '%-44s %10s %10s %7s\n' "$j jobs, IOPS" "$a" "$b" \
			"$(echo "$b $a" | awk '{ printf "%.2f", $1 / $2 }')"
	done
	sizes="128 1024"
	[ "$BIG" = 1 ] && sizes="$sizes 8192"
	printf '\n%-44s %10s %10s %7s\n' "seq write 1M conv=fsync, file size" raw frozenfs ratio
	for mb in $sizes; do
		v=$(seq_pair "$mb" 1) || die "sequential write of $mb MiB failed"
		read -r a b ratio <<<"$v"
		printf '%-44s %10s %10s %7s\n' "$mb MiB, MB/s" "$a" "$b" "$ratio"
	done
	# CPU per GiB: bash's time gives dd's user+sys; the daemon's comes from /proc/PID/stat.
	TIMEFORMAT='%U %S'
	cpu_raw=$( { time dd if=/dev/zero of="$RAW/cpu" bs=1M count=1024 conv=fsync status=none; } 2>&1 |
		awk '{ print $1 + $2 }')
	d0=$(ticks)
	cpu_dd=$( { time dd if=/dev/zero of="$MNT/cpu" bs=1M count=1024 conv=fsync status=none; } 2>&1 |
		awk '{ print $1 + $2 }')
	d1=$(ticks)
	unset TIMEFORMAT
	del "$RAW/cpu" "$MNT/cpu"
	echo
	echo "$cpu_raw $cpu_dd $d0 $d1 $HZ" | awk '{ d = ($4 - $3) / $5;
		printf "CPU seconds per GiB written (dd 1 GiB conv=fsync): raw %.2f, frozenfs %.2f (dd %.2f + daemon %.2f)\n", $1, $2 + d, $2, d }'
	# Peak RSS with 8 parallel writers.
	pids=
	for k in $(seq 1 8); do
		dd if=/dev/zero of="$MNT/rss$k" bs=1M count=256 status=none &
		pids="$pids $!"
	done
	wait $pids	# not a bare wait: the daemon is a background job too
	del "$MNT"/rss*
	pool=$(echo ",$OPTS," | sed -n 's/.*,pool_mb=\([0-9]*\),.*/\1/p')
	echo "daemon peak RSS (VmHWM) after 8 writers of 256 MiB: $(awk '/VmHWM/ { printf "%.0f MiB", $2 / 1024 }' "/proc/$DPID/status"), pool ${pool:-64} MiB (target: pool + 32 MiB)"
	# Last: a sequential write right after the sparse run ran at a tenth of its speed, and
	# 10 s later at about two thirds, on both the old and the new binary (likely ext4 freeing
	# the backing file, which random write-outs fragmented).
	printf '\n%-44s %10s %10s %7s\n' "4k random write, no fsync, 256 MiB file" raw frozenfs ratio
	for layout in laid-out sparse; do
		flag=
		[ "$layout" = sparse ] && flag=--sparse
		a=$(drop_caches; w_wb "$RAW" randwrite "$RAW" --bs=4k --size=256M $flag --seconds="$SECS")
		b=$(drop_caches; w_wb "$MNT" randwrite "$MNT" --bs=4k --size=256M $flag --seconds="$SECS")
		printf '%-44s %10s %10s %7s\n' "$layout, IOPS" "$a" "$b" \
			"$(echo "$b $a" | awk '{ printf "%.2f", $1 / $2 }')"
	done
fi

fusermount3 -u "$MNT" || die "fusermount3 -u failed"
wait "$DPID" && rc=0 || rc=$?
DPID=
[ "$rc" -eq 0 ] || die "frozenfs exited $rc after unmount"
