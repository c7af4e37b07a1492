#!/bin/sh
# expect_fail.sh CMD ARGS...: a test that must FAIL (exit 1): a deliberately broken build whose
# failure shows that the real test sees the defect. Exit 0 when CMD exits 1, 77 when it skips,
# 1 when it passes (the test does not see the defect) or dies otherwise.
"$@"; rc=$?
case $rc in
  1) echo "expect_fail: failed as it must (the test sees the defect)"; exit 0 ;;
  77) exit 77 ;;
  0) echo "expect_fail: $1 passed: the test does not see the defect it exists for" >&2; exit 1 ;;
  *) echo "expect_fail: $1 exited $rc (not a plain test failure)" >&2; exit 1 ;;
esac
