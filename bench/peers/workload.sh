#!/bin/sh
# The workload every supervisor runs in bench/peers: a long-running process tagged in its argv so the
# harness finds it in /proc. Arguments (one word or several): TAG [fork]. With "fork" it first starts a
# grandchild that outlives it unless the supervisor kills the whole tree or process group.
set -- $*
tag=$1
if [ "${2:-}" = fork ]; then
  sh -c 'while :; do sleep 2; done' "peers-gc-$tag" &
fi
exec sh -c 'while :; do sleep 2; done' "peers-wl-$tag"
