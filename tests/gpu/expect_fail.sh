#!/bin/sh
# expect_fail.sh CODE CMD ARGS...: a test that must FAIL with exit CODE: a deliberately broken
# build whose failure shows that the real test sees the defect. The code is one only that
# defect gives (test_gpu_loader_nowait: 3), so that a failure for another reason (the module not
# found, a device error: exit 1) is not taken for it. Exit 0 when CMD exits CODE, 77 when it
# skips, 1 when it passes (the test does not see the defect) or fails otherwise.
want=$1; shift
"$@"; rc=$?
case $rc in
  "$want") echo "expect_fail: failed with $want as it must (the test sees the defect)"; exit 0 ;;
  77) exit 77 ;;
  0) echo "expect_fail: $1 passed: the test does not see the defect it exists for" >&2; exit 1 ;;
  *) echo "expect_fail: $1 exited $rc, not $want (a failure other than the defect's)" >&2; exit 1 ;;
esac
