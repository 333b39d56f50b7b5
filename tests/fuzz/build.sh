#!/bin/sh
# build.sh: builds the libFuzzer targets with clang (ASan + UBSan + libFuzzer) into
# ${1:-build-fuzz}. Local fuzzing only: CI replays the corpora through meson (tests/fuzz/
# meson.build) with the normal compiler and needs no clang.
#
#   $ tests/fuzz/build.sh build-fuzz
#   $ build-fuzz/fuzz_superblock -max_total_time=600 tests/fuzz/corpus_superblock
#   $ build-fuzz/fuzz_opts -max_total_time=600 -dict=tests/fuzz/opts.dict tests/fuzz/corpus_opts
#
# Needs: apt-get install clang libclang-rt-14-dev (and libfuse3-dev for fuzz_opts).
set -eu
cd "$(dirname -- "$0")/../.."
out=${1:-build-fuzz}
mkdir -p "$out"
CC=${CC:-clang}
FLAGS="-g -O1 -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -Wall -Wextra -Icore"
CORE="core/err.c core/chunk.c core/store.c"
[ -f core/fsck.c ] && CORE="$CORE core/fsck.c"
# shellcheck disable=SC2086
$CC $FLAGS -o "$out/fuzz_superblock" tests/fuzz/fuzz_superblock.c $CORE -lpthread
if [ -f fs/fs_opts.c ]; then
	# shellcheck disable=SC2086
	$CC $FLAGS -Ifs $(pkg-config --cflags fuse3) -o "$out/fuzz_opts" tests/fuzz/fuzz_opts.c \
		fs/fs_opts.c core/chunk.c core/err.c $(pkg-config --libs fuse3) -lpthread
fi
echo "built fuzzers in $out"
