#!/bin/bash
#
# it_memory: the daemon's memory is its pool (and its threads are named).
#   - Right after a mount, a background thread makes the pool resident (pool_prefault()), so
#     the first large write does not pay its page faults: VmRSS reaches the pool size.
#   - A pool larger than an eighth of the machine's memory is left to fault in as used
#     (-o pool_mb accepts up to 1 TiB): VmRSS stays far below it.
#   - Writers block when the pool is full instead of growing memory: 4 writers of 64 MiB
#     each through a 16 MiB pool leave the daemon's peak RSS (VmHWM) within the pool plus
#     48 MiB (256 MiB under ASan, whose allocator keeps freed memory in quarantine), and
#     every byte reads back after a remount.
#
# Usage: it_memory.sh FROZENFS_BINARY   (or env FROZENFS)

set -u
. "$(dirname -- "$0")/../lib/fstest.sh"
ft_init "$@"
ft_fake && ft_fail "it_memory needs the real daemon (FT_FAKE is set)"
ft_need "coreutils" dd sha256sum

# meson test sets MALLOC_PERTURB_, which makes glibc fill every allocation, the pool's arena
# too: the daemons here must allocate as they do in use.
unset MALLOC_PERTURB_
T=$FT_TMP
S=$T/store
M=$T/mnt
mkdir -p "$S" "$M"

status_kib() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
rss_at_least() { [ "$(status_kib "$1" VmRSS)" -ge "$2" ]; }

ft_check "a 32 MiB pool is resident within 10 s of the mount"
mount_fs "$S" "$M" pool_mb=32
pid=${FT_PID[$M]}
if ft_wait_until 10 rss_at_least "$pid" $((32 * 1024)); then
	ft_ok "VmRSS $(status_kib "$pid" VmRSS) KiB"
else
	ft_fail "VmRSS $(status_kib "$pid" VmRSS) KiB 10 s after the mount, below the 32 MiB pool"
fi
ft_check "the daemon's threads carry their roles' names (top -H, perf, /proc/PID/task)"
names=$(cat /proc/"$pid"/task/*/comm | sort | uniq -c | awk '{ printf "%s%s x%s", s, $2, $1; s = ", " }')
for n in fz-sync fz-flush fz-reclaim; do
	case ", $names," in
	*", $n x"*) ;;
	*) ft_fail "no thread named $n among: $names" ;;
	esac
done
ft_ok "$names"
umount_fs "$M"

ft_check "a pool above an eighth of the machine's memory is not made resident"
total_mib=$(($(awk '$1 == "MemTotal:" { print $2 }' /proc/meminfo) / 1024))
big=$((total_mib / 8 + 64))
mount_fs "$S" "$M" "pool_mb=$big"
pid=${FT_PID[$M]}
sleep 2
rss=$(status_kib "$pid" VmRSS)
[ "$rss" -lt $((big * 1024 / 4)) ] ||
	ft_fail "VmRSS $rss KiB with a $big MiB pool on a $total_mib MiB machine"
ft_ok "VmRSS $rss KiB with a $big MiB pool ($total_mib MiB of memory)"
umount_fs "$M"

ft_check "4 writers of 64 MiB through a 16 MiB pool: the daemon's peak RSS stays near the pool"
mount_fs "$S" "$M" pool_mb=16
pid=${FT_PID[$M]}
slack=48
grep -q libasan "/proc/$pid/maps" && slack=256
head -c $((64 << 20)) /dev/urandom >"$T/src"
want=$(sha256sum <"$T/src" | cut -d' ' -f1)
bg=()
for w in 1 2 3 4; do
	dd if="$T/src" of="$M/w$w" bs=1M conv=fsync status=none &
	bg+=($!)
	FT_BG+=($!)
done
for p in "${bg[@]}"; do
	wait "$p" || ft_fail "a writer failed (dd exited with status $?)"
done
hwm=$(status_kib "$pid" VmHWM)
[ "$hwm" -le $(((16 + slack) * 1024)) ] ||
	ft_fail "peak RSS $hwm KiB with a 16 MiB pool (allowed: pool + $slack MiB)"
ft_ok "peak RSS $hwm KiB (allowed: pool + $slack MiB)"
remount_fs "$S" "$M" pool_mb=16
for w in 1 2 3 4; do
	ft_assert_eq "$want" "$(sha256sum <"$M/w$w" | cut -d' ' -f1)" "w$w after the remount"
done
umount_fs "$M"
ft_done
