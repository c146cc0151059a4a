#!/usr/bin/env bash
# Builds the extension with AddressSanitizer + UndefinedBehaviorSanitizer and runs the kernel
# test-suite against it. Any sanitizer report fails the run (halt_on_error / no recovery).
# Usage: bash .ci/sanitizers.sh   (from any directory; needs a C++ compiler with libasan/libubsan)
set -euo pipefail
cd "$(dirname "$0")/.."

workdir=$(mktemp -d)
trap 'rm -rf "$workdir"' EXIT
python3 -m venv "$workdir/venv"
# shellcheck disable=SC1091
. "$workdir/venv/bin/activate"
python -m pip install --quiet --upgrade pip
python -m pip install --quiet ".[test]" \
  -Ccmake.define.DRAQCORE_SANITIZE=ON -Ccmake.build-type=RelWithDebInfo -Cbuild-dir="$workdir/build"

libasan=$(g++ -print-file-name=libasan.so)
libubsan=$(g++ -print-file-name=libubsan.so)
# CPython itself is not built with ASan: preload the runtime, and leave leak checking off (the
# interpreter keeps its allocations until exit, which LeakSanitizer reports as leaks).
export LD_PRELOAD="$libasan:$libubsan"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=1:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
cd "$workdir"  # import the installed (sanitized) package, not the source tree
core=$(python -c "import draqcore._core as c; print(c.__file__)")
# (count rather than grep -q: with pipefail, grep -q closing the pipe early fails nm)
if [ "$(nm -D "$core" | grep -c __asan_report)" -eq 0 ]; then
  echo "sanitizers: $core is not instrumented" >&2
  exit 1
fi
python -c "import draqcore; draqcore.show_config()"
python -m pytest -q -p no:cacheprovider -c "$OLDPWD/pyproject.toml" --rootdir "$OLDPWD" \
  "$OLDPWD/tests/test_cost.py" "$OLDPWD/tests/test_context.py" "$OLDPWD/tests/test_dtw.py" \
  "$OLDPWD/tests/test_random_paths.py" "$OLDPWD/tests/test_draq.py" "$OLDPWD/tests/test_properties.py" \
  "$OLDPWD/tests/test_package.py" "$OLDPWD/tests/test_kernel_reliability.py" \
  "$OLDPWD/tests/test_subsequence.py" -k "not librosa"  # librosa's numba JIT is not ours to instrument
echo "sanitizers: no reports"
