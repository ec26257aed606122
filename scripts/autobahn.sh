#!/usr/bin/env bash
# Usage: scripts/autobahn.sh [CASES [EXCLUDED]]   (default: every case, "*"; e.g. "1.*,6.*" "6.4.*")
#        AUTOBAHN_URL=ws://127.0.0.1:PORT/ scripts/autobahn.sh ...   (a server already running,
#        e.g. squall --interface asgi bench.hello_asgi:app, instead of squall_ws_echo)
# Runs Autobahn|Testsuite's fuzzingclient (crossbario/autobahn-testsuite, the
# WebSocket conformance reference) against squall_ws_echo, the echo server on
# core/ws, and prints the verdicts per case category. The suite is Python 2.7
# only: it is installed from PyPI with its pinned dependencies into
# build/autobahn/site for a Python 2.7 found under pyenv or on PATH.
# Report: build/autobahn/report/index.html. Exit 1 if a case failed.
set -eu
cd "$(dirname "$0")/.."
cases=${1:-*}
excluded=${2:-}
out=build/autobahn
root=$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")
py2=
for p in $(ls -d "$root"/versions/2.7.*/bin/python2.7 2>/dev/null | sort -V -r) "$(command -v python2.7 || true)"; do
	if [ -n "$p" ] && [ -x "$p" ] && "$p" -c 'import pip' 2>/dev/null; then py2=$p; break; fi
done
[ -n "$py2" ] || { echo "autobahn: no Python 2.7 with pip (pyenv install 2.7.18)"; exit 2; }
mkdir -p $out
if [ ! -f $out/site/.installed ]; then
	# The suite's own pins (its egg-info requires.txt); pip --target skips them
	# when it installs the sdist, so they are listed here.
	"$py2" -m pip install -q --target $out/site autobahntestsuite==25.10.1 setuptools==44.0.0 txaio==2.1.0 \
		incremental==16.10.1 pyOpenSSL==19.1.0 cryptography==3.3.2 Twisted==19.10.0 zope.interface==4.6.0 \
		jinja2==2.11.3 markupsafe==1.1.1 Werkzeug==1.0.1 klein==17.10.0 service_identity==18.1.0 \
		unittest2==1.1.0 six==1.16.0 "autobahn[accelerate,twisted]==0.10.9"
	# --target does not process zope's namespace .pth file.
	[ -f $out/site/zope/__init__.py ] ||
		echo "__path__ = __import__('pkgutil').extend_path(__path__, __name__)" >$out/site/zope/__init__.py
	touch $out/site/.installed
fi
if [ -n "${AUTOBAHN_URL:-}" ]; then
	url=$AUTOBAHN_URL
else
	cmake -S . -B $out/build -G Ninja -DSQUALL_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release >/dev/null
	cmake --build $out/build --target squall_ws_echo
	$out/build/squall_ws_echo --port 0 >$out/echo.port &
	echo_pid=$!
	trap 'kill $echo_pid 2>/dev/null' EXIT
	for _ in $(seq 50); do grep -q listening $out/echo.port && break; sleep 0.1; done
	url="ws://127.0.0.1:$(awk '{print $3}' $out/echo.port)"
fi
rm -rf $out/report
cat >$out/spec.json <<JSON
{"outdir": "$out/report", "servers": [{"agent": "squall", "url": "$url"}],
 "cases": [$(echo "$cases" | sed 's/[^,][^,]*/"&"/g')], "exclude-cases": [$(echo "$excluded" | sed 's/[^,][^,]*/"&"/g')], "exclude-agent-cases": {}}
JSON
PYTHONPATH=$out/site "$py2" -c 'import sys; sys.argv = ["wstest", "-m", "fuzzingclient", "-s", sys.argv[1]]
from autobahntestsuite.wstest import run; run()' $out/spec.json >$out/wstest.log 2>&1
python3 - $out/report/index.json <<'PY'
import collections, json, sys
results = json.load(open(sys.argv[1]))["squall"]
by = collections.defaultdict(collections.Counter)
for case, r in results.items():
    by[case.split(".")[0]][r["behavior"]] += 1
    by["all"][r["behavior"]] += 1
for cat in sorted(by, key=lambda c: (c == "all", int(c) if c.isdigit() else 0)):
    print(f"{cat:>4}: " + ", ".join(f"{k} {v}" for k, v in sorted(by[cat].items())))
bad = sorted((c for c, r in results.items() if r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL")),
             key=lambda c: [int(x) for x in c.split(".")])
if bad:
    print("not OK:", " ".join(bad))
sys.exit(1 if any(results[c]["behavior"] == "FAILED" for c in bad) else 0)
PY
