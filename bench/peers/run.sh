#!/usr/bin/env bash
# The benchmark harness, one command for both parts:
#  1. side by side: deia vs PM2 vs supervisord, same workload, one run (peers.py);
#  2. deia-only figures (deia_only.py): registry, task queue, launcher, controller, project (git
#     worktree) and permission relay benchmark mains
#     of deia-bench, each run several times; medians, spreads, targets, and the machine described.
#   bench/peers/run.sh [--smoke|--small|--full] [--tools deia,pm2,supervisord] [--no-deia-only | --deia-only]
# --smoke: what CI runs so the harness cannot rot: 2 workloads, 1 repetition, 3 quick crashes, and beside
#   it (both parts at once) each deia-only main once at its smoke size (about 1.5 minutes together). Its
#   figures are too few, and taken under too much load, to quote.
# --small (default): 5 workloads, 3 repetitions (about 3 minutes), then the deia-only mains 3 times each
#   at small sizes (about 4 minutes). --full: 20 workloads, 5 repetitions, then the deia-only mains 5 times
#   each at their documented sizes (about 15 minutes).
# --tools limits part 1 to the named tools; part 2 runs when deia is among them.
# --no-deia-only skips part 2; --deia-only runs part 2 alone (installs neither PM2 nor supervisor).
# Exit 1 when a scenario produced no figure or a deia-only benchmark crashed or printed no result;
# a missed target is reported in the tables, never a failure.
# Installs what is missing: supervisor (Debian package; the system service is stopped and disabled, the
# benchmark runs its own supervisord with a config, socket, pidfile and logs in a temp folder) and PM2
# (pinned, npm, into a private prefix; PM2_HOME is private per run). Builds the deia jar when absent.
# Results: printed as Markdown tables and written to bench/peers/results/peers-<mode>.{md,json} and
# bench/peers/results/deia-only-<mode>.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/../.."
PM2_VERSION=5.4.3
mode=small
extra=()
peers=1
deia_only=1
usage="usage: bench/peers/run.sh [--smoke|--small|--full] [--tools deia,pm2,supervisord] [--no-deia-only | --deia-only]"
while [ $# -gt 0 ]; do
  case "$1" in
    --smoke) mode=smoke ;;
    --small) mode=small ;;
    --full) mode=full ;;
    --tools)
      [ $# -ge 2 ] || { echo "$usage" >&2; exit 2; }
      extra+=(--tools "$2")
      case ",$2," in *,deia,*) ;; *) deia_only=0 ;; esac
      shift ;;
    --no-deia-only) deia_only=0 ;;
    --deia-only) peers=0 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
  shift
done
if [ "$peers" = 0 ] && [ "$deia_only" = 0 ]; then
  echo "nothing to run: --deia-only together with --no-deia-only or --tools without deia" >&2
  exit 2
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if [ "$peers" = 1 ]; then
if ! command -v supervisord >/dev/null; then
  echo "== installing supervisor (Debian package)" >&2
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq supervisor >/dev/null
fi
# apt starts the system service; the benchmark never uses it and must not share a socket with it.
if command -v systemctl >/dev/null && systemctl is-active --quiet supervisor 2>/dev/null; then
  as_root systemctl stop supervisor
  as_root systemctl disable supervisor >/dev/null 2>&1 || true
fi

tools_dir="${DEIA_PEERS_TOOLS:-$HOME/.cache/deia-bench-peers}/pm2-$PM2_VERSION"
pm2="$tools_dir/node_modules/.bin/pm2"
if [ ! -x "$pm2" ]; then
  echo "== installing pm2@$PM2_VERSION into $tools_dir (npm)" >&2
  mkdir -p "$tools_dir"
  npm install --prefix "$tools_dir" --no-audit --no-fund --loglevel=error "pm2@$PM2_VERSION" >/dev/null
fi
fi

jar=deia-server-example/target/deia-server.jar
classes=deia-bench/target/classes
if [ ! -f "$jar" ] || { [ "$deia_only" = 1 ] && { [ ! -f "$classes/io/deia/bench/ProjectBenchmark.class" ] \
    || [ ! -f "$classes/io/deia/bench/PermissionBenchmark.class" ]; }; }; then
  echo "== building $jar and $classes" >&2
  mvn -B -q package -pl deia-bench,deia-server-example -am -DskipTests -Djacoco.skip=true \
    -Dmaven.javadoc.skip=true -Dmaven.source.skip=true
fi

mkdir -p bench/peers/results
status=0
deia_only_pid=
run_deia_only() {
  python3 bench/peers/deia_only.py --mode "$mode" --jar "$jar" --classes "$classes" \
    --out "bench/peers/results/deia-only-$mode"
}
if [ "$deia_only" = 1 ] && [ "$mode" = smoke ] && [ "$peers" = 1 ]; then
  # The smoke run only checks that every figure is still produced: both parts at once, to keep CI short.
  run_deia_only &
  deia_only_pid=$!
fi
if [ "$peers" = 1 ]; then
  python3 bench/peers/peers.py --mode "$mode" --jar "$jar" --pm2 "$pm2" \
    --out "bench/peers/results/peers-$mode" "${extra[@]}" || status=1
fi
if [ -n "$deia_only_pid" ]; then
  wait "$deia_only_pid" || status=1
elif [ "$deia_only" = 1 ]; then
  run_deia_only || status=1
else
  echo "== SKIPPED: deia-only benchmarks (--no-deia-only, or --tools without deia)" >&2
fi
exit "$status"
