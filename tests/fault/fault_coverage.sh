#!/bin/bash
# fault_coverage: every libc call through which the daemon changes or syncs its backing
# store must be interposed by the fault shim, or T5 tests would silently inject nothing
# into it (a daemon switching from pwritev to pwrite, say). Compares the daemon's undefined
# dynamic symbols (nm -D) of that family with what the shim defines.
#
# Usage: fault_coverage.sh FROZENFS_BINARY SHIM_SO
set -u
daemon=${1:?usage: fault_coverage.sh FROZENFS_BINARY SHIM_SO}
shim=${2:?usage: fault_coverage.sh FROZENFS_BINARY SHIM_SO}

command -v nm >/dev/null || { echo "FAIL: nm is missing (apt-get install binutils)"; exit 1; }
# Data, size, sync and namespace calls; attribute calls (fchmodat, utimensat, setxattr, ...)
# are not fault targets yet.
family='^(pwrite|pwritev|pwritev2|pwritev64v2|write|writev|fdatasync|fsync|sync_file_range|syncfs|ftruncate|truncate|fallocate|posix_fallocate|rename|renameat|renameat2|unlink|unlinkat|rmdir|mkdir|mkdirat|open|openat|creat|link|linkat|symlink|symlinkat|mknod|mknodat|futimens|copy_file_range)(64)?$'

used=$(nm -D --undefined-only "$daemon" | awk '{ sub(/@.*/, "", $2); print $2 }' |
	grep -E "$family" | sort -u)
defined=$(nm -D --defined-only "$shim" | awk '$2 == "T" { print $3 }' | sort -u)
[ -n "$used" ] || { echo "FAIL: no backing calls found in $daemon (stripped? nm -D broken?)"; exit 1; }
missing=$(comm -23 <(echo "$used") <(echo "$defined"))
n=0
for s in $used; do
	n=$((n + 1))
	if echo "$missing" | grep -qx "$s"; then
		echo "not ok $n - the daemon calls $s, which the fault shim does not interpose"
	else
		echo "ok $n - $s is interposed"
	fi
done
if [ -n "$missing" ]; then
	echo "FAIL: add to tests/fault/fault_shim.c: $(echo $missing)"
	exit 1
fi
echo "$n passed, 0 failed"
