#!/usr/bin/env bash
# Builds the benchmark module and runs the registry benchmark (docs/benchmarks.md, section "Registry").
#   scripts/bench-registry.sh [seconds-per-run] [other-entries]
set -euo pipefail
cd "$(dirname "$0")/.."
mvn -B -q -pl deia-bench -am package -DskipTests
exec java -cp "deia-bench/target/deia-bench.jar:deia-server-example/target/deia-server.jar" \
  io.deia.bench.RegistryBenchmark "$@"
