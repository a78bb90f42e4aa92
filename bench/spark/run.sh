#!/usr/bin/env bash
# The Spark baseline: synchronous minibatch SGD on PySpark (local[2]), written to figures.json.
# bash bench/spark/run.sh [sgd.py options]
# env: SPARK_VENV (default /tmp/spark-venv), PYSPARK_SPEC (default pyspark==4.3.0)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${SPARK_VENV:-/tmp/spark-venv}"

# Spark runs on the JVM: pyspark 4.x needs Java 17 or 21 (3.5: 8, 11 or 17).
if ! command -v java >/dev/null 2>&1; then
    echo "run.sh: 'java' not found on PATH: Spark 4 needs a JDK/JRE 17 or 21 (Debian: apt-get install openjdk-17-jre-headless)" >&2
    exit 1
fi
java_major="$(java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n 1)"
if [ "${java_major:-0}" -lt 17 ] && [ -z "${PYSPARK_SPEC:-}" ]; then
    echo "run.sh: java ${java_major:-?} is too old for Spark 4 (needs 17 or 21); install Java 17, or set PYSPARK_SPEC='pyspark==3.5.*'" >&2
    exit 1
fi

# The Python environment stays out of the repository. The pyspark wheel bundles Spark's jars,
# so nothing else is downloaded.
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
fi
"$venv/bin/pip" install --quiet "${PYSPARK_SPEC:-pyspark==4.3.0}" 'numpy<3'

# Timings must not share the 2 cores with a build or our own benchmark.
busy() { pgrep -x async-bench || pgrep -x cargo || pgrep -x rustc; } >/dev/null
while busy; do
    echo "run.sh: waiting for cargo/async-bench to finish..." >&2
    sleep 30
done

cd "$here"
exec "$venv/bin/python" sgd.py --out "$here/figures.json" "$@"
