#!/usr/bin/env python3
"""Agent-restart probe for A/B runs: one tool, 2 workloads, N agent kills measured with the side-by-side
harness's own classes and detection (bench/peers/peers.py: kill_and_wait, 5 ms /proc poll). For deia the
runner is killed and restarted between two agent kills, as scenario 2a of the harness does, so every
measured agent restart is the first crash in a fresh runner.

usage: restart_probe.py --jar deia-server.jar [--tool deia|pm2] [--kills 8] [--port-base 31000] [--pm2 PATH]
Prints "<tool> median <ms> [sorted ms ...]" (the 5 ms /proc poll), then the same kills as seen by
peers.ExecEvents (the kernel's exec events, needs root). Run it under
  perf record -a -e sched:sched_process_exec,signal:signal_generate -o p.data -- restart_probe.py ...
and feed `perf script -F comm,pid,tid,time,event,trace` to kernel_restart_timeline.py for the kernel's clock.
"""
import argparse
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "peers"))
import peers  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", required=True)
    ap.add_argument("--tool", default="deia", choices=["deia", "pm2"])
    ap.add_argument("--kills", type=int, default=8)
    ap.add_argument("--port-base", type=int, default=31000)
    ap.add_argument("--pm2", default=os.path.expanduser("~/.cache/deia-bench-peers/pm2-5.4.3/node_modules/.bin/pm2"))
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="restart-probe-")
    args = argparse.Namespace(work=work, jar=a.jar, port_base=a.port_base, pm2=a.pm2)
    t = peers.make(a.tool, args, True, 2, run_id="p")
    seen = None
    try:
        t.start_daemon()
        t.start_all()
        peers.wait_until(peers.all_running(t.tags), 300)
        time.sleep(3)
        tag = t.tags[1]
        times, kills = [], []
        seen = peers.ExecEvents(work, a.tool)
        for _ in range(a.kills):
            dt, why = peers.kill_and_wait(t, tag, 60, kills=kills)
            if dt is None:
                raise SystemExit(f"no replacement workload: {why}")
            times.append(dt * 1000)
            time.sleep(0.5)
            if a.tool == "deia":
                old_runner = peers.runners(t.bot(tag))
                old = peers.tagged(tag)
                peers.kill9(old_runner[0])
                peers.wait_until(lambda: [p for p in peers.tagged(tag) if p not in old and t.parent_is_runner(p)], 120)
                time.sleep(0.5)
        print(a.tool, "median %.1f" % statistics.median(times), sorted(round(x, 1) for x in times))
        events = [e * 1000 for e in seen.delays(kills) if e is not None]
        if events:
            print(a.tool, "exec event seen: median %.2f" % statistics.median(events), sorted(round(x, 2) for x in events))
        else:
            print(a.tool, "exec event seen: not measured:", seen.why)
    finally:
        if seen is not None:
            seen.stop()
        peers.cleanup(t)


if __name__ == "__main__":
    main()
