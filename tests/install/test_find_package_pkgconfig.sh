#!/usr/bin/env bash
# test_find_package_pkgconfig.sh BUILD_DIR CMAKE CC SAMPLE_DIR TMP: `cmake --install` into a temporary prefix
# (through DESTDIR, to see that nothing lands outside it), then build consumer/read_image.c
# against the installed cxr with find_package (shared and static) and with pkg-config (shared
# and static), and run each on a store packed from SAMPLE_DIR by the installed cxr-pack. Also:
# every installed header compiles on its own, the installed plugin lets h5dump read pixels,
# and `--component hdf5-system-plugin` installs the plugin alone into HDF5's default folder.
set -euo pipefail
build=$1 cmake=$2 cc=$3 sample=$4 tmp=$5
here=$(cd "$(dirname "$0")" && pwd)
rm -rf "$tmp" && mkdir -p "$tmp"
fail() { echo "FAIL: $*" >&2; exit 1; }

# --- install: everything inside the prefix --------------------------------------------------
root=$tmp/root prefix_cfg=$tmp/prefix
DESTDIR=$root "$cmake" --install "$build" --prefix "$prefix_cfg" > "$tmp/install.log"
P=$root$prefix_cfg
outside=$(cd "$root" && find . -type f | grep -v "^.${prefix_cfg}/" || true)
[ -z "$outside" ] || fail "installed outside the prefix: $outside"
for f in lib/libcxr.a include/cxr/cxr_store.h include/cxr/cxr_loader.h lib/cmake/cxr/cxrConfig.cmake \
         lib/cmake/cxr/cxrConfigVersion.cmake lib/pkgconfig/cxr.pc lib/hdf5/plugin/libh5zzstd.so \
         bin/cxr-pack; do
  [ -e "$P/$f" ] || fail "not installed: $f"
done
ls "$P"/lib/libcxr.so.* > /dev/null || fail "no shared libcxr"
# A CUDA build installs its module where the installed programs look (../lib/cxr), and the
# installed module resolves every library it needs (no "not found" in ldd).
if [ -e "$build/tools/libcxr_cuda.so" ]; then
  m=$(ls "$P"/lib*/cxr/libcxr_cuda.so 2> /dev/null | head -1)
  [ -n "$m" ] || fail "not installed: lib/cxr/libcxr_cuda.so"
  ! ldd "$m" | grep "not found" || fail "the installed CUDA module misses libraries"
fi
# The shared library exports the API only: names its installed headers mention outside comments
extra=$(nm -D --defined-only "$P/lib/libcxr.so" | awk '$2 ~ /[TDBR]/ && $3 !~ /^cxr_/' | head -5)
[ -z "$extra" ] || fail "libcxr.so exports non-cxr symbols: $extra"
for h in "$P"/include/cxr/*.h; do "$cc" -fpreprocessed -dD -E -P -x c "$h"; done |
  grep -o 'cxr_[A-Za-z0-9_]*' | sort -u > "$tmp/api.txt"
nm -D --defined-only "$P/lib/libcxr.so" | awk '$2 ~ /[TDBRW]/ {print $3}' | sort -u > "$tmp/exported.txt"
internal=$(comm -23 "$tmp/exported.txt" "$tmp/api.txt" | head -5)
[ -z "$internal" ] || fail "libcxr.so exports functions no installed header declares: $internal"
# ... and every installed header is named cxr_*.h (cxr.pc puts include/cxr on the path)
for h in "$P"/include/cxr/*.h; do
  case $(basename "$h") in cxr_*.h) ;; *) fail "installed header without the cxr_ prefix: $h" ;; esac
done
# The README's find_package asks for the version installed (0.x: the same major.minor)
readme=$here/../../README.md
want=$(sed -n 's/^find_package(cxr \([0-9.]*\) REQUIRED).*/\1/p' "$readme")
have=$(sed -n 's/^set(PACKAGE_VERSION "\([0-9]*\.[0-9]*\)\..*/\1/p' "$P/lib/cmake/cxr/cxrConfigVersion.cmake")
[ -n "$want" ] && [ "$want" = "$have" ] || fail "README's find_package(cxr $want) but the package is $have"
# Relative install folders given with -D (no type) stay inside the prefix (CMake makes an
# untyped PATH cache value absolute from the folder cmake runs in)
mkdir -p "$tmp/cwd" && (cd "$tmp/cwd" && "$cmake" -S "$here/../.." -B "$tmp/reconf" -DCXR_CUDA=OFF \
  -DCXR_INSTALL_PLUGINDIR=lib/hdf5/plugin -DCXR_INSTALL_PYTHONDIR=lib/py > "$tmp/reconf.log" 2>&1) ||
  { cat "$tmp/reconf.log"; fail "configure with relative install folders"; }
grep -qx 'hdf5_plugin_dir=${prefix}/lib/hdf5/plugin' "$tmp/reconf/cxr.pc" ||
  fail "-DCXR_INSTALL_PLUGINDIR=lib/hdf5/plugin left the prefix: $(grep plugin_dir "$tmp/reconf/cxr.pc")"
grep -q '^CXR_INSTALL_PYTHONDIR:[A-Z]*=lib/py$' "$tmp/reconf/CMakeCache.txt" ||
  fail "-DCXR_INSTALL_PYTHONDIR=lib/py left the prefix: $(grep PYTHONDIR "$tmp/reconf/CMakeCache.txt")"

# --- every public header compiles alone ------------------------------------------------------
for h in "$P"/include/cxr/*.h; do
  echo "#include <cxr/$(basename "$h")>" |
    "$cc" -std=c11 -Wall -Wextra -pedantic -Wdouble-promotion -Wcast-align=strict -Werror -fsyntax-only \
      -I"$P/include" -x c - ||
    fail "header $(basename "$h") does not compile on its own"
done

# --- a store from data/sample, by the installed cxr-pack --------------------------------------
"$P/bin/cxr-pack" "$sample" -o "$tmp/sample.h5" --quiet > "$tmp/pack.log"
expect=$("$P/bin/cxr-pack" --version)
[ -n "$expect" ] || fail "cxr-pack --version printed nothing"

# --- find_package ----------------------------------------------------------------------------
"$cmake" -S "$here/consumer" -B "$tmp/consumer" -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$cc" \
  -DCMAKE_BUILD_TYPE=Release > "$tmp/consumer.log" 2>&1 || { cat "$tmp/consumer.log"; fail "configure"; }
"$cmake" --build "$tmp/consumer" >> "$tmp/consumer.log" 2>&1 || { cat "$tmp/consumer.log"; fail "build"; }
# ldd's output first, then grep: with pipefail, `ldd | grep -q` fails (or, in an if, passes)
# whenever grep's early exit makes ldd die of SIGPIPE
deps=$(ldd "$tmp/consumer/read_image_shared")
grep -q "libcxr.so.* => $P/lib/" <<< "$deps" ||
  fail "read_image_shared does not load libcxr from the prefix: $(grep cxr <<< "$deps")"
deps=$(ldd "$tmp/consumer/read_image_static")
if grep -q libcxr <<< "$deps"; then fail "read_image_static loads libcxr.so"; fi
[ "$(cat "$tmp/consumer/plugin_dir.txt")" = "$P/lib/hdf5/plugin" ] || fail "cxr_HDF5_PLUGIN_DIR"

# --- pkg-config --------------------------------------------------------------------------------
export PKG_CONFIG_PATH=$P/lib/pkgconfig
pc() { pkg-config "$@" cxr; }
"$cc" -O2 "$here/consumer/read_image.c" -o "$tmp/pc_shared" $(pc --cflags) $(pc --libs) ||
  fail "pkg-config shared build"
# static: the same flags with -lcxr taken from libcxr.a and its private dependencies added
"$cc" -O2 "$here/consumer/read_image.c" -o "$tmp/pc_static" $(pc --cflags) \
  $(pc --static --libs | sed 's/-lcxr\b/-Wl,-Bstatic -lcxr -Wl,-Bdynamic/') || fail "pkg-config static build"
[ "$(pc --variable=hdf5_plugin_dir)" -ef "$P/lib/hdf5/plugin" ] || fail "hdf5_plugin_dir"

# --- all four read the same image -----------------------------------------------------------
ref=""
for exe in "$tmp/consumer/read_image_shared" "$tmp/consumer/read_image_static" "$tmp/pc_shared" \
           "$tmp/pc_static"; do
  out=$(LD_LIBRARY_PATH=$P/lib "$exe" "$tmp/sample.h5" train 5) || fail "$exe failed"
  echo "$(basename "$exe"): $out"
  [ -z "$ref" ] && ref=$out
  [ "$out" = "$ref" ] || fail "$exe read something else"
done
echo "$ref" | grep -Eq '^train\[5\]: 256x256 label (NORMAL|PNEUMONIA) path train/.* sum [-0-9.]+ min -1\.0+ max 1\.0+$' ||
  fail "unexpected image: $ref"

# --- the installed plugin lets h5dump decode the chunks -------------------------------------
if command -v h5dump > /dev/null; then
  HDF5_PLUGIN_PATH=$(pc --variable=hdf5_plugin_dir) h5dump -d /train/images -s 5,128,0 -c 1,1,256 \
    "$tmp/sample.h5" > "$tmp/h5dump.txt" 2>&1 || fail "h5dump with the installed plugin"
  grep -Eq '^ *\(5,128,0\): -?[0-9]' "$tmp/h5dump.txt" || fail "h5dump printed no pixels"
fi

# --- the Python package finds the installed library by itself ---------------------------------
py=/usr/bin/python3
[ -x "$py" ] || py=python3
if "$py" -c "import numpy" 2> /dev/null; then
  got=$(cd "$tmp" && env -u CXR_LIBRARY PYTHONPATH="$P/lib/python3/dist-packages" "$py" -c "
import cxr, sys
with cxr.Loader(sys.argv[1], 'train', batch=6) as ld:
    b = next(iter(ld))
print(cxr.library_path, cxr.version, float(b.images[5].sum()))" "$tmp/sample.h5") || fail "python: import cxr"
  echo "python: $got"
  case "$got" in "$P/lib/libcxr.so."*" ${expect#cxr-pack } "*) ;; *) fail "python loaded another libcxr: $got" ;; esac
  # ... also from another depth of CXR_INSTALL_PYTHONDIR (lib/py, configured above), and from
  # outside the prefix (an absolute folder, as a venv's site-packages)
  "$cmake" --install "$tmp/reconf" --component python --prefix "$P" > /dev/null ||
    fail "install the python component at lib/py"
  grep -qx "$P/lib/py/cxr/_libdir.py" "$tmp/reconf/install_manifest_python.txt" ||
    fail "_libdir.py is not in the install manifest"
  "$cmake" -S "$here/../.." -B "$tmp/reconf" -DCXR_INSTALL_PYTHONDIR="$tmp/venv-site" > /dev/null &&
    "$cmake" --install "$tmp/reconf" --component python --prefix "$P" > /dev/null ||
    fail "install the python component at $tmp/venv-site"
  for d in "$P/lib/py" "$tmp/venv-site"; do
    lp=$(cd "$tmp" && env -u CXR_LIBRARY PYTHONPATH="$d" "$py" -c "import cxr; print(cxr.library_path)") ||
      fail "python from $d: import cxr"
    case "$lp" in "$P/lib/libcxr.so."*) ;; *) fail "python from $d loaded $lp" ;; esac
  done
  sum=$(echo "$ref" | sed 's/.* sum \([-0-9.]*\) .*/\1/')
  "$py" -c "import sys; a, b = map(float, sys.argv[1:]); sys.exit(abs(a - b) > 1e-3 * max(1, abs(b)))" \
    "${got##* }" "$sum" || fail "python image 5 sum ${got##* } != $sum"
fi

# --- the system plugin component: the plugin alone, at HDF5's default folder ------------------
sysdir=$("$cmake" -LA -N "$build" | sed -n 's/^CXR_HDF5_SYSTEM_PLUGIN_DIR:PATH=//p')
if [ -n "$sysdir" ]; then
  DESTDIR=$tmp/sys "$cmake" --install "$build" --component hdf5-system-plugin > /dev/null
  got=$(cd "$tmp/sys" && find . -type f)
  [ "$got" = ".$sysdir/libh5zzstd.so" ] || fail "hdf5-system-plugin installed: $got"
fi
echo "install: ok (prefix $P)"
