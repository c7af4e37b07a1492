#!/bin/bash
# with_locale.sh CMD...: run CMD with de_DE.UTF-8 (a comma decimal separator) available to
# setlocale, made by localedef into a temporary LOCPATH (nothing installed on the system; the
# locale sources come with Debian's locales package, scripts/install-deps.sh).
set -u
dir=$(mktemp -d "${TMPDIR:-/tmp}/cxr-locale.XXXXXX")
trap 'rm -rf "$dir"' EXIT
if ! localedef -i de_DE -f UTF-8 "$dir/de_DE.UTF-8" 2>"$dir/err"; then
    [ -s "$dir/de_DE.UTF-8/LC_NUMERIC" ] || {
        echo "localedef could not make de_DE.UTF-8 (the locales package: scripts/install-deps.sh):" >&2
        cat "$dir/err" >&2
        exit 1
    }
fi
LOCPATH=$dir "$@"
