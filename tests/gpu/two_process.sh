#!/bin/sh
# two_process.sh CMD ARGS...: run CMD twice, as two processes; both must exit 0 and print the
# same stdout (e.g. test_gpu_step digest PREC: a digest of three real-size training steps, which
# differs when the two processes choose different convolution algorithms). Exit 77 when the
# first run does (no GPU), 1 when the outputs differ or a run fails.
a=$("$@") ; rc=$?
if [ $rc -eq 77 ]; then echo "$a"; exit 77; fi
[ $rc -eq 0 ] || { echo "$a"; echo "two_process: first run exited $rc" >&2; exit 1; }
b=$("$@") ; rc=$?
[ $rc -eq 0 ] || { echo "$b"; echo "two_process: second run exited $rc" >&2; exit 1; }
echo "first:  $a"
echo "second: $b"
[ "$a" = "$b" ] || { echo "two_process: the two processes differ" >&2; exit 1; }
