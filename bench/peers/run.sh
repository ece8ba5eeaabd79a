#!/usr/bin/env bash
# Side-by-side supervision benchmark: deia vs PM2 vs supervisord, same workload, one run.
#   bench/peers/run.sh [--small|--full] [--tools deia,pm2,supervisord]
# --small (default): 5 workloads, 3 repetitions, about 3 minutes. --full: 20 workloads, 5 repetitions.
# Installs what is missing: supervisor (Debian package; the system service is stopped and disabled, the
# benchmark runs its own supervisord with a config, socket, pidfile and logs in a temp folder) and PM2
# (pinned, npm, into a private prefix; PM2_HOME is private per run). Builds the deia jar when absent.
# Results: printed as Markdown tables and written to bench/peers/results/peers-<mode>.{md,json}.
set -euo pipefail
cd "$(dirname "$0")/../.."
PM2_VERSION=5.4.3
mode=small
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --small) mode=small ;;
    --full) mode=full ;;
    --tools) extra+=(--tools "$2"); shift ;;
    *) echo "usage: bench/peers/run.sh [--small|--full] [--tools deia,pm2,supervisord]" >&2; exit 2 ;;
  esac
  shift
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

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

jar=deia-server-example/target/deia-server.jar
if [ ! -f "$jar" ]; then
  echo "== building $jar" >&2
  mvn -B -q package -pl deia-server-example -am -DskipTests -Djacoco.skip=true
fi

mkdir -p bench/peers/results
exec python3 bench/peers/peers.py --mode "$mode" --jar "$jar" --pm2 "$pm2" \
  --out "bench/peers/results/peers-$mode" "${extra[@]}"
