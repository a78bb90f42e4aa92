#!/usr/bin/env bash
# The Spark baseline: synchronous minibatch SGD as a JVM job (SgdJvm.java, the comparison) and on
# PySpark (sgd.py), both local[2], written to figures.json (the JVM job's figures under "jvm").
# bash bench/spark/run.sh [--jvm-only | --pyspark-only] [sgd.py options]
# env: SPARK_VENV (default /tmp/spark-venv), PYSPARK_SPEC (default pyspark==4.3.0),
#      SPARK_BENCH_DATA (default ../shared/data/bio_kdd04.normalized.xz beside the checkout),
#      SPARK_BENCH_WAIT=0 (do not wait for cargo/rustc/async-bench processes to end)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${SPARK_VENV:-/tmp/spark-venv}"
data="${SPARK_BENCH_DATA:-$here/../../../shared/data/bio_kdd04.normalized.xz}"
mode=both
case "${1:-}" in
    --jvm-only) mode=jvm; shift ;;
    --pyspark-only) mode=pyspark; shift ;;
esac
if [ "$mode" != pyspark ] && ! command -v javac >/dev/null 2>&1; then
    echo "run.sh: 'javac' not found: the JVM job needs a JDK 17 or 21 (Debian: apt-get install openjdk-17-jdk-headless), or pass --pyspark-only" >&2
    exit 1
fi

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

# Timings must not share the 2 cores with a build or our own benchmark (SPARK_BENCH_WAIT=0 runs
# at once, e.g. on a machine whose other users' builds never stop; check `uptime` then).
busy() {
    [ "${SPARK_BENCH_WAIT:-1}" != 0 ] && { pgrep -x async-bench || pgrep -x cargo || pgrep -x rustc; }
} >/dev/null
while busy; do
    echo "run.sh: waiting for cargo/async-bench to finish..." >&2
    sleep 30
done

cd "$here"
if [ "$mode" != jvm ]; then
    # sgd.py keeps the "jvm" key of an existing figures.json.
    "$venv/bin/python" sgd.py --out "$here/figures.json" "$@"
fi
if [ "$mode" != pyspark ]; then
    # The JVM job: compiled against the wheel's jars, run by the wheel's spark-submit. Its
    # build stays out of the repository.
    spark_home="$("$venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')"
    build="$(mktemp -d /tmp/sgd-jvm.XXXXXX)"
    trap 'rm -rf "$build"' EXIT
    javac -Xlint:all,-path -d "$build/classes" -cp "$spark_home/jars/*" SgdJvm.java
    jar cf "$build/sgd-jvm.jar" -C "$build/classes" .
    while busy; do
        echo "run.sh: waiting for cargo/async-bench to finish..." >&2
        sleep 30
    done
    SPARK_HOME="$spark_home" "$venv/bin/spark-submit" --master 'local[2]' --driver-memory 4g \
        --conf spark.log.level=ERROR --class SgdJvm "$build/sgd-jvm.jar" \
        --data "$data" --out "$build/jvm.json"
    python3 - "$here/figures.json" "$build/jvm.json" <<'PY'
import json, sys
out, jvm = sys.argv[1], sys.argv[2]
try:
    with open(out) as f:
        figures = json.load(f)
except FileNotFoundError:
    figures = {}
with open(jvm) as f:
    figures["jvm"] = json.load(f)
with open(out, "w") as f:
    json.dump(figures, f, indent=2)
    f.write("\n")
print(f"JVM figures written to {out} (key jvm)")
PY
fi
