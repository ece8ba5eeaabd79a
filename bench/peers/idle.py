#!/usr/bin/env python3
"""Idle cost of a hive: N idle bots (built-in `echo` profile) under one `serve`, then the CPU and RSS of
the bot runners together and of the controller over a window, read from /proc.

usage: idle.py --jar deia-server.jar [--bots 20] [--settle 10] [--window 30] [--jvm-options "..."] [--heartbeat-s N]
Prints one line `IDLE-RESULT {json}`. --jvm-options replaces the profile's runner JVM options (to
compare settings); without it the built-in defaults are measured.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from peers import cpu_ticks, procs, rss_kb  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--jar", required=True)
    ap.add_argument("--bots", type=int, default=20)
    ap.add_argument("--settle", type=float, default=10)
    ap.add_argument("--window", type=float, default=30)
    ap.add_argument("--jvm-options", help="runner JVM options, space-separated")
    ap.add_argument("--heartbeat-s", type=int, help="heartbeat_interval_s of the hive (default: the built-in one)")
    ap.add_argument("--port-base", type=int, default=21400)
    a = ap.parse_args()
    work = tempfile.mkdtemp(prefix="deia-idle-")
    hive = os.path.join(work, ".deia")
    os.makedirs(hive)
    profile = {"agent": "command", "executable": "/bin/cat", "prompt_mode": "stdin"}
    if a.jvm_options is not None:
        profile["runner_jvm_options"] = a.jvm_options.split()
    config = {"ports": {"from": a.port_base, "to": a.port_base + 99}, "profiles": {"idle": profile}}
    if a.heartbeat_s:
        config["heartbeat_interval_s"] = a.heartbeat_s
    with open(os.path.join(hive, "deia.json"), "w") as f:
        json.dump(config, f)
    serve = subprocess.Popen(["java", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                              "-jar", a.jar, "serve", "--hive", hive, "--port", "0"],
                             stdout=subprocess.PIPE, stderr=open(os.path.join(work, "serve.log"), "w"), text=True,
                             start_new_session=True)
    bots = [f"IDLE-{i:03d}" for i in range(a.bots)]
    status = 1
    try:
        url = serve.stdout.readline().split()[0].split("/?token=")[0].rstrip("/")
        with open(os.path.join(hive, "token")) as f:
            token = f.read().strip()

        def api(method, path, body=None):
            req = urllib.request.Request(url + path, data=None if body is None else json.dumps(body).encode(),
                                         method=method, headers={"Authorization": "Bearer " + token,
                                                                 "Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read() or b"{}")
        launch_s = []
        for b in bots:
            t0 = time.monotonic()
            api("POST", "/api/bot/launch", {"bot_id": b, "profile": "idle"})
            launch_s.append(time.monotonic() - t0)
        time.sleep(a.settle)
        snap = procs()
        runners = [p for p, (_, argv) in snap.items() if "bot" in argv and "--hive" in argv and hive in argv]
        watched = runners + [serve.pid]
        c0 = {p: cpu_ticks(p) for p in watched}
        time.sleep(a.window)
        hz = os.sysconf("SC_CLK_TCK")
        cpu = {p: 100 * (cpu_ticks(p) - c0[p]) / hz / a.window for p in watched}
        res = {"bots": a.bots, "runners_found": len(runners), "window_s": a.window,
               "jvm_options": a.jvm_options or "default", "heartbeat_s": a.heartbeat_s or "default",
               "launch_1_bot_s_median": sorted(launch_s)[len(launch_s) // 2],
               "runners_cpu_pct": round(sum(cpu[p] for p in runners), 2),
               "runners_rss_mb": round(sum(rss_kb(p) for p in runners) / 1024),
               "runner_rss_mb_each": round(sum(rss_kb(p) for p in runners) / 1024 / max(1, len(runners)), 1),
               "controller_cpu_pct": round(cpu[serve.pid], 2), "controller_rss_mb": round(rss_kb(serve.pid) / 1024)}
        print("IDLE-RESULT " + json.dumps(res), flush=True)
        status = 0 if len(runners) == a.bots else 1
    finally:
        for b in bots:
            try:
                api("POST", f"/api/bot/{b}/stop", {})
            except Exception:
                pass
        serve.terminate()
        serve.wait(30)
        shutil.rmtree(work, ignore_errors=True)
    sys.exit(status)


if __name__ == "__main__":
    main()
