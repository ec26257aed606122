#!/usr/bin/env bash
# Usage: scripts/find_python.sh X.Y
# Prints the path of a working CPython X.Y (pyenv's newest X.Y.*, then
# pythonX.Y on PATH) and exits 0; prints nothing and exits 1 when there is none.
# pyenv's shims are not trusted: a shim may exist and refuse to run, so every
# candidate is run once and must report the version asked for.
set -u
want=${1:?usage: find_python.sh X.Y}
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
candidates=()
for p in $(ls -d "$root"/versions/"$want".*/bin/python"$want" 2>/dev/null | sort -V -r); do
	candidates+=("$p")
done
for p in /usr/local/bin/python"$want" /usr/bin/python"$want" "$(command -v python"$want" 2>/dev/null)"; do
	[ -n "$p" ] && candidates+=("$p")
done
for p in "${candidates[@]}"; do
	[ -x "$p" ] || continue
	got=$("$p" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null) || continue
	if [ "$got" = "$want" ] && "$p" -c 'import venv, ensurepip' 2>/dev/null; then
		echo "$p"
		exit 0
	fi
done
exit 1
