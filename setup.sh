#!/usr/bin/env bash
# frozenfs set-up in one command, for a fresh Debian 12 machine (run as root, or with sudo).
#
#   ./setup.sh demo   install dependencies, build, create a demo store ./demo/data and mount
#                     it on ./demo/mnt (the main job)
#   ./setup.sh test   install dependencies, build, run every test suite (what .ci/run calls);
#                     ends with one line "N passed, M failed"
#   ./setup.sh deps   only install dependencies
#   ./setup.sh build  only build (into ./build)
set -euo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)

# Everything the build, the tests and the benchmarks use, from Debian's archive.
PKGS=(gcc pkg-config meson ninja-build libfuse3-dev fuse3 libcmocka-dev
      sqlite3 rsync tar attr git e2fsprogs util-linux procps coreutils strace python3 man-db)

log() { printf '[setup] %s\n' "$*" >&2; }

sudo_if_needed() {
	if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

deps() {
	local missing=()
	for p in "${PKGS[@]}"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
			missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing: ${missing[*]}"
		sudo_if_needed apt-get update -qq
		sudo_if_needed env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
			--no-install-recommends "${missing[@]}" >/dev/null
	else
		log "all dependencies present"
	fi
	[ -e /dev/fuse ] || { log "/dev/fuse is missing: FUSE is not available here"; exit 1; }
}

build() { # build DIR [meson options...]
	local dir=$1; shift
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$@" >/dev/null
	fi
	ninja -C "$dir" >/dev/null
	log "built $dir"
}

TOTAL_OK=0
TOTAL_FAIL=0
# run_suite DIR ARGS...: meson test, then add its summary to the totals.
run_suite() {
	local dir=$1; shift
	local out rc=0
	out=$(mktemp)
	meson test -C "$dir" --print-errorlogs "$@" 2>&1 | tee "$out" || rc=$?
	local ok fail xfail xpass timeout
	ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$out" | tail -1)
	fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$out" | tail -1)
	xpass=$(sed -n 's/^Unexpected Pass: *\([0-9]*\).*/\1/p' "$out" | tail -1)
	timeout=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$out" | tail -1)
	xfail=$(sed -n 's/^Expected Fail: *\([0-9]*\).*/\1/p' "$out" | tail -1)
	ok=${ok:-0}; fail=${fail:-0}; xpass=${xpass:-0}; timeout=${timeout:-0}; xfail=${xfail:-0}
	if [ "$ok" -eq 0 ] && [ "$fail" -eq 0 ] && [ "$timeout" -eq 0 ]; then
		# meson itself failed (no summary): count the run as one failure
		fail=1
	fi
	TOTAL_OK=$((TOTAL_OK + ok + xfail))
	TOTAL_FAIL=$((TOTAL_FAIL + fail + xpass + timeout))
	rm -f "$out"
	return 0
}

cmd_test() {
	deps
	# Normal build, warnings as errors: unit, integration and durability suites.
	build build -Dwerror=true
	run_suite build
	# ASan + UBSan: every suite; fewer crash cycles and T1 three-step workloads, since each
	# daemon start costs more here (the normal build above runs the full counts).
	build build-asan -Dwerror=true -Db_sanitize=address,undefined
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 ASAN_OPTIONS=detect_leaks=1 \
		FROZENFS_CRASH_CYCLES=48 FROZENFS_POWERLOSS_CYCLES=16 FT_THREE=150 FT_MOUNTS=60 \
		FT_MANYFILES=3000,2048 \
		run_suite build-asan
	# TSan: the concurrent core modules, and the daemon under a few integration tests (a
	# report makes it exit 66, a failure there).
	build build-tsan -Dwerror=true -Db_sanitize=thread
	# TSan needs a narrower mmap randomisation than recent kernels default to.
	if [ -w /proc/sys/vm/mmap_rnd_bits ] && [ "$(cat /proc/sys/vm/mmap_rnd_bits)" -gt 28 ]; then
		echo 28 > /proc/sys/vm/mmap_rnd_bits
	fi
	TSAN_OPTIONS=halt_on_error=1 run_suite build-tsan pool mpsc pipeline it_basic \
		it_concurrency it_mmap it_posix
	echo "$TOTAL_OK passed, $TOTAL_FAIL failed"
	[ "$TOTAL_FAIL" -eq 0 ]
}

cmd_demo() {
	deps
	build build
	local data=$ROOT/demo/data mnt=$ROOT/demo/mnt
	mkdir -p "$data" "$mnt"
	if mountpoint -q "$mnt"; then
		log "$mnt is already mounted"
	else
		"$ROOT/build/fs/frozenfs" "$data" "$mnt"
	fi
	cat <<TXT
frozenfs is mounted: backing store $data, mount point $mnt

Try:
  echo hello > $mnt/hello.txt && sync $mnt/hello.txt   # fsync: durable when it returns
  dd if=/dev/urandom of=$mnt/big bs=1M count=64 conv=fsync
  ls -l $data                                           # the chunked backing files
  $ROOT/build/tools/frozenfs-ctl status $mnt   # queue, pool, durable epoch, errors
  $ROOT/build/fs/frozenfs --help                        # every option
Unmount (writes and syncs everything queued):
  fusermount3 -u $mnt
TXT
}

case "${1:-}" in
deps) deps ;;
build) deps; build build ;;
test) cmd_test ;;
demo) cmd_demo ;;
*) echo "usage: $0 demo|test|deps|build" >&2; exit 2 ;;
esac
