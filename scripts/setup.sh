# Sourced by scripts/run and scripts/test: make .venv hold this checkout's pypipin, its
# Python dependencies and the renderer's npm packages; do nothing that is already done.
# Usage: . scripts/setup.sh [extra]     (extra: "test" adds the test dependencies)
set -euo pipefail
top="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$top/.venv"
extra="${1:-}"
python="${PYTHON:-python3}"

"$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "pypipin needs Python 3.11 or newer; set PYTHON to one" >&2; exit 1; }
command -v node >/dev/null || {
  node_versions="$("$python" -c 'import json, sys; print(json.load(open(sys.argv[1]))["engines"]["node"])' \
    "$top/pypipin/renderer/shields/package.json")"
  echo "pypipin needs Node.js $node_versions (node) on PATH" >&2; exit 1; }
command -v npm >/dev/null || { echo "pypipin needs npm on PATH" >&2; exit 1; }

[ -x "$venv/bin/python" ] || "$python" -m venv "$venv"

digest() { (cd "$top" && find "$@" -type f -not -path '*/node_modules/*' -not -name '*.pyc' -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-64); }

# dependencies come from the lock (exact versions, hashes checked); scripts/lock regenerates it
lock="requirements${extra:+-$extra}.lock"
deps_stamp="$venv/.deps${extra:+-$extra}"
deps_now="$(digest "$lock")"
if [ "$(cat "$deps_stamp" 2>/dev/null)" != "$deps_now" ]; then
  "$venv/bin/pip" install --quiet --require-hashes --no-deps -r "$top/$lock"
  echo "$deps_now" > "$deps_stamp"
  # the test lock holds the service's pins too: after scripts/test, scripts/run installs nothing
  [ -z "$extra" ] || digest requirements.lock > "$venv/.deps"
  rm -f "$venv/.source"
fi

source_now="$(digest setup.py README.md pypipin twisted)"
if [ "$(cat "$venv/.source" 2>/dev/null)" != "$source_now" ]; then
  "$venv/bin/pip" install --quiet --no-deps --no-build-isolation "$top"
  # rebuild twisted's plugin cache now, not at the first twistd call
  "$venv/bin/python" -I -c 'from twisted.plugin import IPlugin, getPlugins; list(getPlugins(IPlugin))'
  echo "$source_now" > "$venv/.source"
fi

# the renderer's npm packages, in the per-user directory the daemon uses (nothing to do when present)
renderer_now="$(digest pypipin/renderer/shields/package-lock.json) ${XDG_CACHE_HOME:-$HOME/.cache}"
renderer_was="" renderer_dir=""
{ read -r renderer_was; read -r renderer_dir; } 2>/dev/null < "$venv/.renderer" || true
if [ "$renderer_was" != "$renderer_now" ] || [ ! -d "$renderer_dir/node_modules" ]; then
  "$venv/bin/pypipin" renderer install >/dev/null
  { echo "$renderer_now"; "$venv/bin/python" -I -c 'from pypipin.renderer.provision import default_dir; print(default_dir())'
  } > "$venv/.renderer"
fi
