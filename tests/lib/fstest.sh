# shellcheck shell=bash
#
# fstest.sh: shared helpers for the shell integration tests (tests/integration/it_*.sh).
#
# Source it, then call ft_init with the script's arguments:
#
#	. "$(dirname "$0")/../lib/fstest.sh"
#	ft_init "$@"			# $1 (or env FROZENFS) is the daemon binary
#	mount_fs "$FT_TMP/store" "$FT_TMP/mnt" chunk_size=4096
#	...
#	umount_fs "$FT_TMP/mnt"		# asserts that the daemon exits 0
#	ft_done				# prints the closing "N passed, 0 failed" line
#
# What it guarantees:
# - A test that cannot mount FAILS, naming what is missing (/dev/fuse, fusermount3, the daemon):
#   FUSE works wherever frozenfs is built and tested, so a skip would hide a broken install.
# - Everything lives in one private directory, FT_TMP (mktemp -d under /tmp). On exit (normal,
#   failure or signal) every mount this script made is lazily unmounted (fusermount3 -uz), any
#   daemon still running is killed, and FT_TMP is removed unless FT_KEEP=1 is set. FT_TMP is
#   only removed once nothing is mounted below it, so rm -rf never runs through a live mount.
# - Every check prints what it checks ("# check: ...") and its outcome ("ok N - ...").
#
# Self-test mode: FT_FAKE=bind makes mount_fs bind-mount BACKING on MNT instead of starting the
# daemon, and umount_fs umount it. Running a test body against plain ext4 that way shakes out
# bugs in the test code itself before the daemon exists. Checks that only make sense for
# frozenfs (the hidden superblock, refusals) look at ft_fake.

FT_PASS=0
FT_FAIL=0
FT_TMP=
FROZENFS=${FROZENFS:-}
FT_FAKE=${FT_FAKE:-}
declare -A FT_PID=()		# mountpoint -> daemon pid
declare -A FT_LOG=()		# mountpoint -> daemon log file
FT_MOUNTS=()			# every mountpoint mount_fs was asked for, in order
FT_BG=()			# background helpers a test started: killed first at cleanup
FT_NLOG=0

ft_say() { printf '# %s\n' "$*"; }
ft_check() { printf '# check: %s\n' "$*"; }

ft_ok()
{
	FT_PASS=$((FT_PASS + 1))
	printf 'ok %d - %s\n' "$FT_PASS" "$*"
}

# ft_fail MSG: report, show the daemon logs, and exit 1 (the EXIT trap cleans up).
ft_fail()
{
	FT_FAIL=$((FT_FAIL + 1))
	printf 'not ok - %s\n' "$*" >&2
	printf 'FAIL: %s\n' "$*" >&2
	local m
	for m in "${!FT_LOG[@]}"; do
		if [ -s "${FT_LOG[$m]}" ]; then
			printf '# daemon log for %s (last 30 lines):\n' "$m" >&2
			tail -n 30 "${FT_LOG[$m]}" | sed 's/^/#   /' >&2
		fi
	done
	printf '%d passed, %d failed\n' "$FT_PASS" "$FT_FAIL"
	exit 1
}

# ft_soft_fail MSG: report a failed check but carry on; ft_done then exits 1. For checks
# whose failure does not invalidate the ones after them.
ft_soft_fail()
{
	FT_FAIL=$((FT_FAIL + 1))
	printf 'not ok - %s\n' "$*"
	printf 'FAIL: %s\n' "$*" >&2
}

ft_fake() { [ -n "$FT_FAKE" ]; }

# ft_assert_eq GOT WANT WHAT
ft_assert_eq()
{
	if [ "$1" != "$2" ]; then
		ft_fail "$3: got '$1', expected '$2'"
	fi
	ft_ok "$3"
}

# ft_assert_cmd WHAT CMD...: CMD must exit 0.
ft_assert_cmd()
{
	local what=$1 rc out
	shift
	out=$("$@" 2>&1) && rc=0 || rc=$?
	if [ "$rc" -ne 0 ]; then
		printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /' >&2
		ft_fail "$what: '$*' exited $rc"
	fi
	ft_ok "$what"
}

# ft_assert_same_file A B WHAT: byte-identical files.
ft_assert_same_file()
{
	if ! cmp -s -- "$1" "$2"; then
		cmp -- "$1" "$2" 2>&1 | head -n 3 | sed 's/^/#   /' >&2
		ft_fail "$3: $1 and $2 differ"
	fi
	ft_ok "$3"
}

# ft_manifest DIR: one line per entry below DIR (type, path, size for files, target for
# symlinks, sha256 for regular files), sorted. Modes and times are left out on purpose: the
# callers compare content and shape; rsync's own check covers times.
ft_manifest()
{
	(
		cd -- "$1" || exit 1
		{
			find . -mindepth 1 -name .frozenfs -prune -o -type f -printf 'f %p %s\n'
			find . -mindepth 1 -type d -printf 'd %p\n'
			find . -mindepth 1 -type l -printf 'l %p -> %l\n'
			find . -mindepth 1 ! -type f ! -type d ! -type l -printf '? %p %y\n'
		} | LC_ALL=C sort
		find . -name .frozenfs -prune -o -type f -print0 | LC_ALL=C sort -z |
			xargs -0 -r sha256sum
	)
}

# ft_assert_same_tree A B WHAT
ft_assert_same_tree()
{
	local ma mb
	ma=$(ft_manifest "$1") || ft_fail "$3: cannot list $1"
	mb=$(ft_manifest "$2") || ft_fail "$3: cannot list $2"
	if [ "$ma" != "$mb" ]; then
		diff <(printf '%s\n' "$ma") <(printf '%s\n' "$mb") | head -n 20 | sed 's/^/#   /' >&2
		ft_fail "$3: trees $1 and $2 differ"
	fi
	ft_ok "$3 ($(printf '%s\n' "$ma" | grep -c '^f ') files)"
}

# ft_limit_fds N: from now on mount_fs starts the daemon with RLIMIT_NOFILE N and without
# CAP_SYS_RESOURCE, so it cannot raise the limit itself. setpriv and prlimit exec, so the
# pid mount_fs records is the daemon's. Needs setpriv and prlimit (util-linux).
ft_limit_fds()
{
	local real=$FROZENFS
	FROZENFS=$FT_TMP/frozenfs-limited
	cat >"$FROZENFS" <<WRAP
#!/bin/sh
exec setpriv --inh-caps=-sys_resource --bounding-set=-sys_resource -- \\
	prlimit --nofile=$1:$1 -- "$real" "\$@"
WRAP
	chmod +x "$FROZENFS"
}

# ft_assert_no_fd_shortage MNT WHEN: the daemon of MNT never logged running out of
# descriptors (WHEN names the phase in the message).
ft_assert_no_fd_shortage()
{
	local log=${FT_LOG[$1]}
	grep -q "out of file descriptors" "$log" &&
		ft_fail "$2, the daemon ran out of descriptors: $(grep -m1 'out of file' "$log")"
	ft_ok "no descriptor shortage logged $2"
}

# ft_init [DAEMON]: find the daemon, check FUSE, make FT_TMP, install the cleanup trap.
ft_init()
{
	if [ -n "${1:-}" ]; then
		FROZENFS=$1
	fi
	trap ft_cleanup EXIT
	trap 'ft_fail "interrupted by a signal"' INT TERM HUP
	if ! ft_fake; then
		[ -n "$FROZENFS" ] ||
			ft_fail "no daemon: pass the frozenfs binary as the first argument or set FROZENFS"
		[ -x "$FROZENFS" ] || ft_fail "daemon '$FROZENFS' is missing or not executable"
		FROZENFS=$(realpath -- "$FROZENFS")
		[ -c /dev/fuse ] || ft_fail "/dev/fuse is missing (load the fuse module / pass the device)"
		[ -r /dev/fuse ] && [ -w /dev/fuse ] ||
			ft_fail "/dev/fuse is not readable and writable by uid $(id -u)"
		command -v fusermount3 >/dev/null ||
			ft_fail "fusermount3 is missing (apt-get install fuse3)"
	fi
	command -v mountpoint >/dev/null || ft_fail "mountpoint(1) is missing (util-linux)"
	FT_TMP=$(mktemp -d /tmp/frozenfs-it.XXXXXX) || ft_fail "mktemp -d failed"
	ft_say "daemon: ${FT_FAKE:+(fake: $FT_FAKE) }${FROZENFS:-none}; temp dir: $FT_TMP"
}

# ft_wait_until SECONDS CMD...: poll CMD every 20 ms; return 0 once it succeeds, 1 on timeout.
ft_wait_until()
{
	local limit=$(($1 * 50)) i=0
	shift
	while ! "$@"; do
		i=$((i + 1))
		[ "$i" -lt "$limit" ] || return 1
		sleep 0.02
	done
	return 0
}

ft_alive() { kill -0 "$1" 2>/dev/null; }

# ft_need HINT TOOL...: fail, naming HINT (how to install), unless every TOOL is on PATH.
ft_need()
{
	local hint=$1 t
	shift
	for t in "$@"; do
		command -v "$t" >/dev/null || ft_fail "$t is missing ($hint)"
	done
}

# mount_fs BACKING MNT [OPTS]: start `frozenfs -f` in the background and wait for the mount.
mount_fs()
{
	local backing=$1 mnt=$2 opts=${3:-} pid log
	mkdir -p -- "$mnt"
	FT_MOUNTS+=("$mnt")
	if ft_fake; then
		mkdir -p -- "$backing"
		mount --bind "$backing" "$mnt" || ft_fail "fake mount: mount --bind $backing $mnt"
		ft_say "mounted (fake bind) $backing on $mnt"
		return 0
	fi
	FT_NLOG=$((FT_NLOG + 1))
	log="$FT_TMP/daemon.$FT_NLOG.log"
	local pre=()
	if [ -n "${FT_FAULT_RULES:-}" ]; then
		# verify_asan_link_order=0: the shim may come before an ASan daemon's runtime.
		pre=(env "LD_PRELOAD=$FT_SHIM" "FROZENFS_FAULTS=$FT_FAULT_RULES"
		     "FROZENFS_FAULTS_LOG=$FT_TMP/faults.log"
		     "ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0")
	fi
	if [ -n "$opts" ]; then
		"${pre[@]}" "$FROZENFS" -f -o "$opts" "$backing" "$mnt" >"$log" 2>&1 &
	else
		"${pre[@]}" "$FROZENFS" -f "$backing" "$mnt" >"$log" 2>&1 &
	fi
	pid=$!
	FT_PID[$mnt]=$pid
	FT_LOG[$mnt]=$log
	if ! ft_wait_until 10 mountpoint -q -- "$mnt"; then
		if ft_alive "$pid"; then
			ft_fail "mount_fs: $mnt is not mounted 10 s after starting frozenfs (pid $pid)"
		fi
		wait "$pid" && rc=0 || rc=$?
		ft_fail "mount_fs: frozenfs exited with status $rc before mounting $mnt: $(head -c 500 "$log")"
	fi
	ft_say "mounted $backing on $mnt${opts:+ (-o $opts)}, daemon pid $pid"
}

# mount_fs_faults RULES BACKING MNT [OPTS]: mount_fs with the fault shim (env FT_SHIM) in the
# daemon, FROZENFS_FAULTS=RULES (tests/fault/fault_shim.c), logging to $FT_TMP/faults.log.
mount_fs_faults()
{
	local rules=$1
	shift
	[ -n "${FT_SHIM:-}" ] && [ -r "$FT_SHIM" ] || ft_fail "env FT_SHIM must name the fault shim"
	FT_FAULT_RULES=$rules mount_fs "$@"
}

# umount_fs MNT: fusermount3 -u, then wait (up to 120 s) for the daemon; it must exit 0.
umount_fs()
{
	local mnt=$1 pid rc i
	if ft_fake; then
		umount -- "$mnt" || ft_fail "fake umount $mnt"
		return 0
	fi
	pid=${FT_PID[$mnt]:-}
	[ -n "$pid" ] || ft_fail "umount_fs: nothing mounted on $mnt by this test"
	# EBUSY right after a close(2) elsewhere is possible; retry for a few seconds.
	for i in $(seq 1 100); do
		if fusermount3 -u -- "$mnt" 2>"$FT_TMP/fusermount.err"; then
			break
		fi
		[ "$i" -lt 100 ] || ft_fail "umount_fs: fusermount3 -u $mnt failed: $(cat "$FT_TMP/fusermount.err")"
		sleep 0.05
	done
	if ! ft_wait_until 120 eval "! kill -0 $pid 2>/dev/null"; then
		ft_fail "umount_fs: frozenfs (pid $pid) still running 120 s after unmounting $mnt"
	fi
	wait "$pid" && rc=0 || rc=$?
	unset "FT_PID[$mnt]"
	[ "$rc" -eq 0 ] || ft_fail "umount_fs: frozenfs exited with status $rc after unmounting $mnt"
	ft_ok "unmounted $mnt, daemon exited 0"
}

# remount_fs BACKING MNT [OPTS]
remount_fs()
{
	umount_fs "$2"
	mount_fs "$@"
}

ft_cleanup()
{
	local rc=$? m pid
	trap - EXIT INT TERM HUP
	for pid in "${FT_BG[@]}"; do
		kill -KILL "$pid" 2>/dev/null
	done
	for m in "${FT_MOUNTS[@]}"; do
		if mountpoint -q -- "$m" 2>/dev/null; then
			if ft_fake; then
				umount -l -- "$m"
			else
				fusermount3 -uz -- "$m" 2>/dev/null || umount -l -- "$m" 2>/dev/null
			fi
		fi
	done
	for pid in "${FT_PID[@]}"; do
		if ft_alive "$pid"; then
			kill -TERM "$pid" 2>/dev/null
			ft_wait_until 5 eval "! kill -0 $pid 2>/dev/null" || kill -KILL "$pid" 2>/dev/null
		fi
	done
	if [ -n "$FT_TMP" ] && [ -d "$FT_TMP" ]; then
		if grep -qF " $FT_TMP/" /proc/self/mountinfo; then
			printf '# cleanup: something is still mounted below %s; leaving it\n' "$FT_TMP" >&2
		elif [ "${FT_KEEP:-0}" = 1 ] || { [ "$rc" -ne 0 ] && [ "${FT_KEEP:-0}" = fail ]; }; then
			printf '# cleanup: kept %s\n' "$FT_TMP" >&2
		else
			rm -rf -- "$FT_TMP"
		fi
	fi
	exit "$rc"
}

# ft_done: the closing line that test runners read; exits 1 after any ft_soft_fail.
ft_done()
{
	printf '%d passed, %d failed\n' "$FT_PASS" "$FT_FAIL"
	[ "$FT_FAIL" -eq 0 ] || exit 1
}
