#!/usr/bin/env bash
# The one test command (README, CI). On a fresh Debian machine it installs what the tests drive for
# real -- Chromium + ChromeDriver (browser tests), nats-server (multi-host backend tests) and the pinned
# agent CLIs (agent contract tests) --
# then runs the whole Maven build with its tests and coverage gates.
#   scripts/test.sh            core suite (Claude Code contract tests included)
#   scripts/test.sh -Pagents   also the Codex and Gemini CLI contract tests
# After the Maven build it runs the benchmark harness at its smoke size so it cannot rot
# (bench/peers/run.sh --smoke: deia, PM2 and supervisord side by side with 2 workloads once, and beside
# it each deia-only benchmark main of deia-bench once at its smoke size, about 1.5 minutes): it fails the
# run when any scenario produced no figure or a benchmark main crashed or printed no result line
# (timings and missed targets are printed, never asserted).
# DEIA_SKIP_PEERS=1 skips it, and says so.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
  echo "== installing chromium and chromium-driver (Debian packages)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
fi

if ! command -v nats-server >/dev/null; then
  echo "== installing nats-server (Debian package) for the multi-host backend tests"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nats-server >/dev/null
fi

if [ ! -x agent-clis/node_modules/.bin/claude ] || [ ! -x agent-clis/node_modules/.bin/codex ] \
   || [ ! -x agent-clis/node_modules/.bin/gemini ]; then
  echo "== installing pinned agent CLIs into agent-clis/node_modules (npm)"
  npm install --prefix agent-clis --no-audit --no-fund --loglevel=error >/dev/null
fi

if [ "${DEIA_SKIP_PEERS:-0}" != 1 ] && ! command -v supervisord >/dev/null; then
  echo "== installing supervisor (Debian package) for bench/peers"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq supervisor >/dev/null
fi

mvn -B verify "$@"

if [ "${DEIA_SKIP_PEERS:-0}" = 1 ]; then
  echo "== SKIPPED: bench/peers/run.sh --smoke (DEIA_SKIP_PEERS=1)"
else
  echo "== bench/peers/run.sh --smoke (deia vs PM2 vs supervisord, then deia-only figures; fails when a scenario or benchmark has no result)"
  bench/peers/run.sh --smoke
fi
