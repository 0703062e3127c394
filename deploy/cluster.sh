#!/bin/sh
# Start Proctor's scale-out topology on this machine (docs/scale-out.md); Ctrl-C stops it.
# Uses the repository's .venv when there is one, else PYTHON, else python3.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
python=${PYTHON:-$here/../.venv/bin/python}
[ -x "$python" ] || python=python3
exec "$python" "$here/cluster.py" "$@"
