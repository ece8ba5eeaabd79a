#!/usr/bin/env python3
"""Reads `perf script -F comm,pid,tid,time,event,trace` output of a restart_probe.py run (events
sched:sched_process_exec and signal:signal_generate) and prints, for every SIGKILL the probe sent to a
workload, the time until the next exec of /usr/bin/sh by another process: the replacement workload's
`exec sh -c …` (bench/peers/workload.sh), i.e. the moment its tag is visible, on the kernel's clock.

usage: kernel_restart_timeline.py PERF_SCRIPT_OUTPUT
"""
import re
import statistics
import sys

LINE = re.compile(r"^\s*(.+?)\s+(\d+)/(\d+)\s+([\d.]+):\s+(\S+):\s+(.*)$")


def main(path):
    events = []
    with open(path) as f:
        for line in f:
            m = LINE.match(line)
            if m:
                events.append((float(m.group(4)), m.group(1), int(m.group(2)), m.group(5), m.group(6)))
    events.sort()
    delays = []
    for i, (t, comm, _pid, name, rest) in enumerate(events):
        if name == "signal:signal_generate" and rest.startswith("sig=9 ") and comm.startswith("python") and "comm=sh " in rest:
            victim = int(re.search(r" pid=(\d+)", rest).group(1))
            for t2, _c2, p2, n2, r2 in events[i:]:
                if t2 - t > 0.2:
                    break
                if n2 == "sched:sched_process_exec" and "filename=/usr/bin/sh" in r2 and p2 != victim:
                    delays.append((t2 - t) * 1000)
                    break
    if not delays:
        raise SystemExit("no kill followed by a workload exec found")
    print(len(delays), "median %.2f" % statistics.median(delays), sorted(round(x, 2) for x in delays))


if __name__ == "__main__":
    main(sys.argv[1])
