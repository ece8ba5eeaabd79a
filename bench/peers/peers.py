#!/usr/bin/env python3
"""Side-by-side supervision benchmark: deia (serve + BotLauncher), PM2 and supervisord.

Runs the same workload (bench/peers/workload.sh, a tagged long-running shell process) under the
three supervisors in one run and measures five scenarios (see docs/benchmarks.md, "Side by side").
Everything is observed from /proc, never from the tools' own reports. Called by run.sh, which
installs the tools; this file only needs python3, the tools' paths and the deia jar.
"""
import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
WORKLOAD = os.path.join(HERE, "workload.sh")


# ---------------------------------------------------------------- /proc helpers

def procs():
    """pid -> (ppid, argv) for every process visible now."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            ppid = int(stat[stat.rindex(")") + 2:].split()[1])
            if stat[stat.rindex(")") + 2] == "Z":
                continue
        except (FileNotFoundError, ProcessLookupError, ValueError, IndexError):
            continue
        out[int(d)] = (ppid, [a.decode(errors="replace") for a in argv if a])
    return out


def tagged(tag, kind="wl", snapshot=None):
    snap = snapshot if snapshot is not None else procs()
    return sorted(p for p, (_, argv) in snap.items() if f"peers-{kind}-{tag}" in argv)


def runners(bot, snapshot=None):
    snap = snapshot if snapshot is not None else procs()
    found = []
    for p, (_, argv) in snap.items():
        if "io.deia.server.Main" in argv and "bot" in argv and "--id" in argv:
            i = argv.index("--id")
            if i + 1 < len(argv) and argv[i + 1] == bot:
                found.append(p)
    return sorted(found)


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except FileNotFoundError:
        pass
    return 0


def cpu_ticks(pid):
    try:
        with open(f"/proc/{pid}/stat") as f:
            s = f.read()
        fields = s[s.rindex(")") + 2:].split()
        return int(fields[11]) + int(fields[12])
    except FileNotFoundError:
        return 0


def wait_until(cond, timeout, step=0.005, gave_up=None):
    """Polls cond() until truthy; returns (seconds, value) or (None, reason) on timeout/give-up."""
    t0 = time.monotonic()
    last_giveup_check = 0.0
    while True:
        v = cond()
        if v:
            return time.monotonic() - t0, v
        now = time.monotonic()
        if now - t0 > timeout:
            return None, "timeout"
        if gave_up and now - last_giveup_check > 0.25:
            last_giveup_check = now
            g = gave_up()
            if g:
                return None, g
        time.sleep(step)


def kill9(pid):
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def sh(*argv, env=None, check=True, timeout=120):
    r = subprocess.run(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({r.returncode}): {r.stdout[-2000:]}")
    return r.stdout


# ---------------------------------------------------------------- supervisord

class Supervisord:
    name = "supervisord"

    def __init__(self, work, n, fast, tags, fork_tag):
        self.dir = tempfile.mkdtemp(prefix="supervisord-", dir=work)
        self.conf = os.path.join(self.dir, "supervisord.conf")
        self.tags = tags
        self.fast = fast
        lines = [
            "[unix_http_server]", f"file={self.dir}/supervisor.sock",
            "[supervisord]", f"logfile={self.dir}/supervisord.log", f"pidfile={self.dir}/supervisord.pid",
            f"childlogdir={self.dir}", "loglevel=warn",
            "[rpcinterface:supervisor]",
            "supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface",
            "[supervisorctl]", f"serverurl=unix://{self.dir}/supervisor.sock",
        ]
        for t in tags:
            lines += [f"[program:{t}]", f"command=/bin/sh {WORKLOAD} {t}" + (" fork" if t == fork_tag else ""),
                      "autostart=false", "autorestart=true",
                      f"stdout_logfile={self.dir}/{t}.log", "redirect_stderr=true"]
            if fast:
                lines += ["startsecs=0"]
            if fast == "group":
                lines += ["stopasgroup=true", "killasgroup=true"]
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")

    def ctl(self, *args, check=True):
        return sh("supervisorctl", "-c", self.conf, *args, check=check)

    def start_daemon(self):
        sh("supervisord", "-c", self.conf)
        wait_until(lambda: os.path.exists(f"{self.dir}/supervisor.sock") and self.ctl("pid", check=False).strip().isdigit(), 30, 0.02)

    def start_all(self):
        self.ctl("start", "all")

    def stop(self, tag):
        self.ctl("stop", tag)

    def supervisor_pids(self):
        with open(f"{self.dir}/supervisord.pid") as f:
            return [int(f.read().strip())]

    def gave_up(self, tag):
        out = self.ctl("status", tag, check=False)
        return "FATAL (gave up)" if "FATAL" in out else None

    def restart_after_kill(self):
        # After a kill -9 the stale socket and pidfile stay; supervisord refuses an existing socket
        # only while something listens on it, so a plain start is what a user or systemd would do.
        self.start_daemon()
        if any(True for t in self.tags if "RUNNING" not in self.ctl("status", t, check=False)):
            self.ctl("start", "all", check=False)

    def shutdown(self):
        self.ctl("shutdown", check=False)


# ---------------------------------------------------------------- PM2

class Pm2:
    name = "PM2"

    def __init__(self, work, n, fast, tags, fork_tag, pm2_bin):
        self.dir = tempfile.mkdtemp(prefix="pm2-", dir=work)
        self.env = dict(os.environ, PM2_HOME=os.path.join(self.dir, "home"))
        self.bin = pm2_bin
        self.tags = tags
        apps = []
        for t in tags:
            app = {"name": t, "script": "/bin/sh", "args": [WORKLOAD, t] + (["fork"] if t == fork_tag else []),
                   "interpreter": "none", "autorestart": True,
                   "out_file": f"{self.dir}/{t}.log", "error_file": f"{self.dir}/{t}.log"}
            if fast:
                app.update({"restart_delay": 0, "min_uptime": 0, "max_restarts": 1000})
            if fast == "group":
                # PM2's default SIGINT is ignored by a shell's background jobs; SIGTERM is not.
                app.update({"kill_signal": "SIGTERM", "treekill": True})
            apps.append(app)
        self.eco = os.path.join(self.dir, "ecosystem.config.js")
        with open(self.eco, "w") as f:
            f.write("module.exports = " + json.dumps({"apps": apps}) + ";\n")

    def pm2(self, *args, check=True):
        return sh(self.bin, *args, env=self.env, check=check)

    def start_daemon(self):
        self.pm2("ping")

    def start_all(self):
        self.pm2("start", self.eco)

    def stop(self, tag):
        self.pm2("stop", tag)

    def supervisor_pids(self):
        with open(os.path.join(self.env["PM2_HOME"], "pm2.pid")) as f:
            return [int(f.read().strip())]

    def gave_up(self, tag):
        try:
            for p in json.loads(self.pm2("jlist", check=False)):
                if p["name"] == tag and p["pm2_env"]["status"] in ("errored", "stopped"):
                    return p["pm2_env"]["status"] + " (gave up)"
        except (ValueError, KeyError):
            pass
        return None

    def restart_after_kill(self):
        # What a user does after the daemon died: any pm2 command spawns a new daemon; the saved
        # process list is brought back with `pm2 resurrect` (pm2 save was run before the kill).
        self.pm2("resurrect")

    def save(self):
        self.pm2("save", "--force")

    def shutdown(self):
        self.pm2("kill", check=False)


# ---------------------------------------------------------------- deia

class Deia:
    """deia: `serve` (controller + BotLauncher) supervises one bot runner JVM per workload; the
    bot's `command` agent runs workload.sh as a task turn. The workload process is the agent."""
    name = "deia"

    def __init__(self, work, n, fast, tags, fork_tag, jar, port_base):
        self.dir = tempfile.mkdtemp(prefix="deia-", dir=work)
        self.hive = os.path.join(self.dir, ".deia")
        os.makedirs(self.hive)
        self.jar = jar
        self.tags = tags
        self.fork_tag = fork_tag
        self.serve = None
        self.profile = "wl"
        restart = {"policy": "on-failure", "max_restarts": 1000, "window_s": 60, "backoff_initial_ms": 0,
                   "backoff_max_ms": 0} if fast else {}
        prof = {"agent": "command", "executable": "/bin/sh", "args": [WORKLOAD, "{prompt}"], "prompt_mode": "arg",
                "timeout_s": 86400, "start_timeout_s": 180}
        if fast:
            prof.update({"retry_backoff_ms": 0, "max_attempts": 1000})
        if restart:
            prof["restart"] = restart
        cfg = {"ports": {"from": port_base, "to": port_base + 99}, "profiles": {"wl": prof}}
        with open(os.path.join(self.hive, "deia.json"), "w") as f:
            json.dump(cfg, f)
        self.log = open(os.path.join(self.dir, "serve.log"), "a")
        self.url = None

    def start_daemon(self):
        self.serve = subprocess.Popen(["java", "-XX:TieredStopAtLevel=1", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn", "-jar", self.jar,
                                       "serve", "--hive", self.hive, "--port", "0"],
                                      stdout=subprocess.PIPE, stderr=self.log, text=True, start_new_session=True)
        line = self.serve.stdout.readline().strip()
        if not line.startswith("http"):
            raise RuntimeError("serve did not print its URL; see " + self.log.name)
        self.url = line.split()[0].split("/?token=")[0].rstrip("/")
        with open(os.path.join(self.hive, "token")) as f:
            self.token = f.read().strip()

    def api(self, method, path, body=None, raw=False, timeout=200):
        data = None if body is None else (body.encode() if raw else json.dumps(body).encode())
        # urllib would send form-encoded; deia refuses any body that is not JSON (tasks: text/markdown) with 415.
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Authorization": "Bearer " + self.token,
                                              "Content-Type": "text/markdown" if raw else "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return json.loads(r.read() or b"{}")

    def bot(self, tag):
        return tag.replace("_", "-")

    def start_one(self, tag):
        self.api("POST", "/api/bot/launch", {"bot_id": self.bot(tag), "profile": self.profile})
        prompt = tag + (" fork" if tag == self.fork_tag else "")
        self.api("POST", f"/api/bot/{self.bot(tag)}/tasks", f"---\ntimeout: 86400\n---\n{prompt}\n", raw=True)

    def start_all(self):
        errors = []

        def one(t):
            try:
                self.start_one(t)
            except Exception as e:  # reported below: a failed launch fails the scenario
                errors.append(f"{t}: {e}")
        threads = [threading.Thread(target=one, args=(t,)) for t in self.tags]
        [t.start() for t in threads]
        [t.join() for t in threads]
        if errors:
            raise RuntimeError("; ".join(errors))

    def stop(self, tag):
        self.api("POST", f"/api/bot/{self.bot(tag)}/stop", {})

    def status(self, tag):
        return self.api("GET", f"/api/bot/{self.bot(tag)}/status", timeout=5)

    def supervisor_pids(self):
        return [self.serve.pid]

    def runner_pids(self, snap=None):
        snap = snap if snap is not None else procs()
        return [p for t in self.tags for p in runners(self.bot(t), snap)]

    def parent_is_runner(self, pid):
        snap = procs()
        return pid in snap and snap[pid][0] in self.runner_pids(snap)

    def gave_up(self, tag):
        try:
            st = self.status(tag)
        except Exception:
            return None
        if st.get("state") == "failed":
            return "runner failed (restart budget spent)"
        live = st.get("live") or {}
        if live.get("state") == "idle" and not live.get("current_task") and live.get("tasks_failed", 0) > 0:
            return "task failed for good (max_attempts)"
        return None

    def restart_after_kill(self):
        self.serve.wait()
        self.start_daemon()

    def shutdown(self):
        if self.serve and self.serve.poll() is None:
            def stop(t):
                try:
                    self.stop(t)
                except Exception:
                    pass
            threads = [threading.Thread(target=stop, args=(t,)) for t in self.tags]
            [t.start() for t in threads]
            [t.join() for t in threads]
            self.serve.terminate()
            self.serve.wait(30)
        for p in self.runner_pids():
            kill9(p)


# ---------------------------------------------------------------- scenarios

def stats(xs):
    xs = [x for x in xs if x is not None]
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "median": statistics.median(xs), "min": min(xs), "max": max(xs)}


def all_running(tags):
    def cond():
        snap = procs()
        pids = [tagged(t, snapshot=snap) for t in tags]
        return pids if all(len(p) == 1 for p in pids) else None
    return cond


def leftovers(tags):
    snap = procs()
    return sum(len(tagged(t, k, snap)) for t in tags for k in ("wl", "gc"))


def make(tool, args, fast, n, fork_tag=None, run_id="r"):
    tags = [f"{tool[:2]}{run_id}_{i}" for i in range(n)]
    if tool == "deia":
        # A port range per instance: runners of the previous instance may still hold their ports
        # for a moment while they stop.
        args.port_base += 100
        return Deia(args.work, n, fast, tags, fork_tag and tags[0], args.jar, args.port_base)
    if tool == "pm2":
        return Pm2(args.work, n, fast, tags, fork_tag and tags[0], args.pm2)
    return Supervisord(args.work, n, fast, tags, fork_tag and tags[0])


def cleanup(t):
    try:
        t.shutdown()
    finally:
        snap = procs()
        for tag in t.tags:
            for k in ("wl", "gc"):
                for p in tagged(tag, k, snap):
                    kill9(p)


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def scenario_start_restart_idle(tool, args, res):
    """Scenarios 1, 2 (fast settings), 5 on one instance with N workloads."""
    start_times, runner_times = [], []
    for rep in range(args.reps_start):
        t = make(tool, args, True, args.n, run_id=f"s{rep}")
        try:
            t.start_daemon()
            t0 = time.monotonic()
            t.start_all()
            dt, pids = wait_until(all_running(t.tags), 300)
            start_times.append(None if dt is None else time.monotonic() - t0)
            log(f"  {tool} start {args.n}: {start_times[-1]}")
            if rep < args.reps_start - 1:
                continue
            # Scenario 5: idle cost with N workloads, after a settle period.
            time.sleep(args.settle)
            sup = t.supervisor_pids()
            extra = t.runner_pids() if tool == "deia" else []
            c0 = {p: cpu_ticks(p) for p in sup + extra}
            time.sleep(args.idle_window)
            hz = os.sysconf("SC_CLK_TCK")
            res["idle"][tool] = {
                "supervisor_rss_mb": sum(rss_kb(p) for p in sup) / 1024,
                "supervisor_cpu_pct": 100 * sum(cpu_ticks(p) - c0[p] for p in sup) / hz / args.idle_window,
                "runners_rss_mb": sum(rss_kb(p) for p in extra) / 1024 if extra else None,
                "runners_cpu_pct": 100 * sum(cpu_ticks(p) - c0[p] for p in extra) / hz / args.idle_window if extra else None,
                "workload_rss_mb": sum(rss_kb(p) for ps in pids for p in ps) / 1024,
                "n": args.n, "window_s": args.idle_window}
            log(f"  {tool} idle: {res['idle'][tool]}")
            # Scenario 2, fastest settings: kill -9 one workload, time until its replacement runs.
            tag = t.tags[1]
            times, rtimes, orphans, kills = [], [], [], []
            clock = KernelClock(args.work, tool)
            try:
                measure_restarts(t, tool, tag, args.reps, times, rtimes, orphans, kills)
            finally:
                clock.stop()
            res["restart_fast"][tool] = stats(times)
            kernel = clock.delays(kills)
            res["restart_fast_kernel"][tool] = (stats(kernel) if any(k is not None for k in kernel)
                                                else {"n": 0, "why": clock.why or "no exec of a replacement recorded"})
            if tool == "deia":
                res["restart_fast"]["deia, whole bot (runner kill -9 → agent running again)"] = stats(rtimes)
                res["runner_kill_orphans"] = orphans
            log(f"  {tool} restart fast: {times} whole-bot {rtimes} orphaned agents {orphans}")
        finally:
            cleanup(t)
    res["start"][tool] = stats(start_times)



def measure_restarts(t, tool, tag, reps, times, rtimes, orphans, kills):
    """Scenario 2a's kills (fastest settings); for deia also the whole bot after each agent kill."""
    for _ in range(reps):
        times.append(kill_and_wait(t, tag, 60, kills=kills)[0])
        time.sleep(0.5)
        if tool == "deia":
            # The whole bot: kill -9 the runner JVM, time until a new runner's agent runs the
            # workload again (runner restarted, /health, the claimed task retried).
            old_runner = runners(t.bot(tag))
            old = tagged(tag)
            kill9(old_runner[0])
            t1 = time.monotonic()
            wait_until(lambda: [p for p in tagged(tag) if p not in old and t.parent_is_runner(p)], 120)
            rtimes.append(time.monotonic() - t1)
            # The agent of the killed runner is in its own session: does it survive?
            left = [p for p in old if p in procs()]
            orphans.append(len(left))
            for p in left:
                kill9(p)
            time.sleep(0.5)


def current_workload(t, tag):
    """The workload pid the supervisor runs now (for deia: the agent whose parent is a live runner).
    One /proc snapshot per poll for every tool: the parent check reads the same snapshot instead of
    scanning /proc again (a second scan, 2-8 ms here, was charged to deia's restart time only)."""
    snap = procs()
    pids = tagged(tag, snapshot=snap)
    if isinstance(t, Deia):
        live_runners = set(t.runner_pids(snap))
        pids = [p for p in pids if snap[p][0] in live_runners]
    return pids


def kill_and_wait(t, tag, timeout, gave_up=None, kills=None):
    """kill -9 the workload of `tag`, then poll /proc until a replacement runs. With `kills` (a list),
    appends (killed pid, CLOCK_MONOTONIC of the kill, replacement pid) for KernelClock."""
    old = current_workload(t, tag)
    if not old:
        return None, "no workload running"
    t_kill = time.monotonic()
    kill9(old[0])
    dt, new = wait_until(lambda: [p for p in current_workload(t, tag) if p not in old], timeout, 0.005, gave_up)
    if kills is not None and dt is not None:
        kills.append((old[0], t_kill, new[0]))
    return dt, new


def end_helper(proc, settle_s, sig, wait_s):
    """Ends a recording helper the harness started (idempotent): after `settle_s` (so it records the last
    events) it gets `sig`, and SIGKILL when it has not exited `wait_s` later."""
    if proc is not None and proc.poll() is None:
        time.sleep(settle_s)
        proc.send_signal(sig)
        try:
            proc.wait(wait_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class KernelClock:
    """A second clock for scenario 2a, when `perf` can record tracepoints here: the time from the kill
    to the replacement's last exec before the poll saw it (the exec of the tagged `sh -c`), from the
    kernel's own timestamps (sched:sched_process_exec, CLOCK_MONOTONIC like time.monotonic()). The poll
    adds its 5 ms sleep and one /proc scan, and a scan takes longer the more processes the machine runs
    (deia runs a runner JVM per bot), so the poll's figure carries a share that is the harness's."""

    def __init__(self, work, name):
        self.data = os.path.join(work, f"kernel-clock-{name}.data")
        self.proc = None
        self.why = None
        if not shutil.which("perf"):
            self.why = "perf not installed"
            return
        try:
            self.proc = subprocess.Popen(["perf", "record", "-q", "-a", "-k", "CLOCK_MONOTONIC", "-e",
                                          "sched:sched_process_exec", "-o", self.data],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            time.sleep(1.0)
            if self.proc.poll() is not None:
                self.why = "perf record failed: " + self.proc.stderr.read().decode(errors="replace").strip()[:200]
                self.proc = None
        except OSError as e:
            self.why = f"perf record failed: {e}"
            self.proc = None

    def stop(self):
        """Ends the recording (idempotent); call it in a finally so no perf outlives the scenario."""
        end_helper(self.proc, 0.2, signal.SIGINT, 30)

    def delays(self, kills):
        """Seconds from each kill to the replacement's last exec; None for a kill without one."""
        if self.proc is None:
            return []
        self.stop()
        out = subprocess.run(["perf", "script", "-i", self.data, "-F", "pid,time,event"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, text=True).stdout
        execs = {}
        for line in out.splitlines():
            parts = line.split()
            try:
                execs.setdefault(int(parts[0]), []).append(float(parts[1].rstrip(":")))
            except (ValueError, IndexError):
                continue
        result = []
        for _victim, t_kill, new_pid in kills:
            after = [t for t in execs.get(new_pid, []) if t_kill < t < t_kill + 10]
            result.append(max(after) - t_kill if after else None)
        return result


def scenario_defaults_and_crashloop(tool, args, res):
    """Default settings: the first crash of each of `reps` stable workloads, then quick crashes."""
    t = make(tool, args, False, args.reps + 1, run_id="d")
    try:
        t.start_daemon()
        t.start_all()
        wait_until(all_running(t.tags), 300)
        time.sleep(2)  # past supervisord's default startsecs=1 and PM2's min_uptime=1 s
        times = [kill_and_wait(t, tag, 60)[0] for tag in t.tags[1:]]
        res["restart_default"][tool] = stats(times)
        log(f"  {tool} restart default: {times}")
        crash_loop(t, t.tags[0], args, res["crashloop"], tool)
        if tool == "deia" and args.mode == "full":
            # deia's agent crash loop is the task's retry budget; the runner has a restart budget
            # of its own: 10 quick kill -9 of the runner JVM (default policy).
            tag = t.tags[1]
            delays, outcome = [], "restarted all 10"
            for i in range(10):
                old = runners(t.bot(tag))
                if not old:
                    outcome = f"no runner after {i} restarts"
                    break
                kill9(old[0])
                dt, why = wait_until(lambda: [p for p in runners(t.bot(tag)) if p not in old], args.crash_wait * 2,
                                     0.005, gave_up=lambda: t.gave_up(tag))
                if dt is None:
                    outcome = f"{why} after {i} restarts"
                    break
                delays.append(round(dt, 3))
            res["crashloop"]["deia, whole bot (runner kill -9)"] = {"delays_s": delays, "outcome": outcome}
            log(f"  deia runner crash loop: {delays} {outcome}")
    finally:
        cleanup(t)


def crash_loop(t, tag, args, out, key):
    """Quick crashes (10; the smoke run 3): kill -9 the workload as soon as its replacement runs."""
    delays, outcome = [], f"restarted all {args.crashes}"
    for i in range(args.crashes):
        dt, why = kill_and_wait(t, tag, args.crash_wait, gave_up=lambda: t.gave_up(tag))
        if dt is None:
            outcome = f"{why} after {i} restarts"
            break
        delays.append(round(dt, 3))
    out[key] = {"delays_s": delays, "outcome": outcome}
    log(f"  {key} crash loop: {out[key]}")


def scenario_grandchild(tool, args, res, fast):
    t = make(tool, args, fast, 1, fork_tag=True, run_id="g" + ("b" if fast else "d"))
    try:
        t.start_daemon()
        t.start_all()
        wait_until(lambda: tagged(t.tags[0], "gc") and tagged(t.tags[0]), 300)
        before = leftovers(t.tags)
        t.stop(t.tags[0])
        time.sleep(2.0)
        left = leftovers(t.tags)
        key = "grandchild_best" if fast else "grandchild_default"
        res[key][tool] = {"before": before, "left_after_stop": left}
        log(f"  {tool} {key}: {res[key][tool]}")
    finally:
        cleanup(t)


def scenario_supervisor_kill(tool, args, res):
    n = min(args.n, 5)
    t = make(tool, args, True, n, run_id="k")
    try:
        t.start_daemon()
        t.start_all()
        _, pids = wait_until(all_running(t.tags), 300)
        before = {tg: tagged(tg) for tg in t.tags}
        runners_before = t.runner_pids() if tool == "deia" else []
        if tool == "pm2":
            t.save()
        for p in t.supervisor_pids():
            kill9(p)
        time.sleep(2)
        snap = procs()
        alive = sum(1 for tg in t.tags if tagged(tg, snapshot=snap) == before[tg])
        runners_alive = sum(1 for p in runners_before if p in snap)
        t.restart_after_kill()
        time.sleep(2)
        snap = procs()
        counts = [len(tagged(tg, snapshot=snap)) for tg in t.tags]
        same = sum(1 for tg in t.tags if tagged(tg, snapshot=snap) == before[tg])
        r = {"n": n, "alive_after_kill": alive, "kept_same_pid_after_restart": same,
             "duplicated": sum(1 for c in counts if c > 1), "lost": sum(1 for c in counts if c == 0),
             "processes_after_restart": sum(counts)}
        if tool == "deia":
            r["runners_alive_after_kill"] = runners_alive
            r["runners_after_restart"] = len(t.runner_pids(snap))
        # Re-adopted means: the new supervisor restarts the workload when it dies. For deia the
        # runner JVM is what the supervisor (serve) restarts; an agent is retried by its runner.
        tag = t.tags[0]
        if tool == "deia":
            old = runners(t.bot(tag))
            for p in old:
                kill9(p)
            dt, _ = wait_until(lambda: [p for p in runners(t.bot(tag)) if p not in old], 60)
        else:
            old = tagged(tag)
            for p in old:
                kill9(p)
            dt, _ = wait_until(lambda: [p for p in tagged(tag) if p not in old], 30)
        r["supervised_again"] = dt is not None
        res["supervisor_kill"][tool] = r
        log(f"  {tool} supervisor kill: {r}")
    finally:
        cleanup(t)
        # What the restarted supervisor does not know about (orphans of the first one) is ended here.
        snap = procs()
        for tg in t.tags:
            for p in tagged(tg, "wl", snap) + tagged(tg, "gc", snap):
                kill9(p)


def fmt(s):
    if not s or s.get("n", 0) == 0:
        return "n/a"
    d = 1 if s["median"] < 0.1 else 0  # a tenth of a ms where the figures are a few ms
    return f"{s['median'] * 1000:.{d}f} ms ({s['min'] * 1000:.{d}f}–{s['max'] * 1000:.{d}f}, n={s['n']})"


def markdown(res):
    tools = ["deia", "PM2", "supervisord"]
    key = {"deia": "deia", "PM2": "pm2", "supervisord": "supervisord"}
    out = [f"Run {res['meta']['started']}, mode {res['meta']['mode']}: {res['meta']['machine']}", ""]
    out += [f"### 1. Start {res['meta']['n']} workloads → all running in /proc (supervisor already up)", "",
            "| tool | median (min–max, n) |", "|---|---|"]
    out += [f"| {t} | {fmt(res['start'].get(key[t]))} |" for t in tools]
    out += ["", "### 2a. kill -9 one workload → replacement running (fastest settings)", "",
            "The same kills seen two ways. *Kernel clock*: the kernel's timestamp of the replacement's exec of the "
            "tagged command (`perf` tracepoint). *Poll*: a /proc scan every 5 ms until the replacement shows; it adds the "
            "sleep and a scan whose length grows with the processes running (deia runs a runner JVM per bot).", "",
            "| tool | kernel clock | 5 ms /proc poll |", "|---|---|---|"]

    def measured(section, tool_key):
        k = res.get(section, {}).get(tool_key)
        if k and k.get("n"):
            return fmt(k)
        return f"not measured{': ' + k['why'] if k and k.get('why') else ''}"

    for t in tools:
        if key[t] in res["restart_fast"]:
            out.append(f"| {t} | {measured('restart_fast_kernel', key[t])} | {fmt(res['restart_fast'][key[t]])} |")
    for k, v in res["restart_fast"].items():
        if k not in key.values():
            out.append(f"| {k} | — | {fmt(v)} |")
    if "runner_kill_orphans" in res:
        out += ["", f"deia: agent processes of the killed runner still running after each runner kill -9: "
                    f"{res['runner_kill_orphans']} (each one is a duplicate workload; the harness ends it)"]
    out += ["", "### 2b. kill -9 a stable workload (first crash) → replacement running (default settings)", "",
            "| tool | median (min–max, n) |", "|---|---|"]
    out += [f"| {t} | {fmt(res['restart_default'].get(key[t]))} |" for t in tools]
    out += ["", f"### 2c. {res['meta']['crashes']} quick crashes in a row (default settings; kill -9 as soon as the replacement runs)", "",
            "| tool | delay before each restart (s) | outcome |", "|---|---|---|"]
    for k, c in res["crashloop"].items():
        out.append(f"| {k.replace('pm2', 'PM2')} | {', '.join(str(d) for d in c.get('delays_s', []))} | {c.get('outcome', 'n/a')} |")
    out += ["", "### 3. Stop a workload that forked a grandchild → tagged processes left", "",
            "| tool | defaults | best setting |", "|---|---|---|"]
    for t in tools:
        d = res["grandchild_default"].get(key[t], {})
        b = res["grandchild_best"].get(key[t], {})
        out.append(f"| {t} | {d.get('left_after_stop', 'n/a')} of {d.get('before', '?')} | "
                   f"{b.get('left_after_stop', 'n/a')} of {b.get('before', '?')} |")
    out += ["", "### 4. kill -9 the supervisor, then start it again", "",
            "| tool | workloads alive after kill | after restart: same pid kept | duplicated | lost | "
            "processes (expect n) | supervised again |", "|---|---|---|---|---|---|---|"]
    for t in tools:
        r = res["supervisor_kill"].get(key[t])
        if r:
            out.append(f"| {t} | {r['alive_after_kill']}/{r['n']} | {r['kept_same_pid_after_restart']}/{r['n']} | "
                       f"{r['duplicated']} | {r['lost']} | {r['processes_after_restart']}/{r['n']} | "
                       f"{'yes' if r['supervised_again'] else 'no'} |")
    out += ["", f"### 5. Idle cost with {res['meta']['n']} workloads", "",
            "| tool | supervisor RSS | supervisor CPU | bot runners RSS (sum) | bot runners CPU (sum) |",
            "|---|---|---|---|---|"]
    for t in tools:
        i = res["idle"].get(key[t])
        if i:
            rr = f"{i['runners_rss_mb']:.0f} MB" if i["runners_rss_mb"] is not None else "—"
            rc = f"{i['runners_cpu_pct']:.2f} %" if i["runners_cpu_pct"] is not None else "—"
            out.append(f"| {t} | {i['supervisor_rss_mb']:.0f} MB | {i['supervisor_cpu_pct']:.2f} % | {rr} | {rc} |")
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mode", default="small")
    ap.add_argument("--jar", required=True)
    ap.add_argument("--pm2", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--tools", default="deia,pm2,supervisord")
    ap.add_argument("--port-base", type=int, default=19400)
    a = ap.parse_args()
    full = a.mode == "full"
    smoke = a.mode == "smoke"
    a.n = 20 if full else 2 if smoke else 5
    a.reps = 5 if full else 1 if smoke else 3
    a.reps_start = 3 if full else 1
    a.settle = 10 if full else 1 if smoke else 2
    a.idle_window = 10 if full else 1 if smoke else 3
    a.crashes = 3 if smoke else 10
    a.crash_wait = 20 if full else 12
    a.work = tempfile.mkdtemp(prefix="deia-peers-")
    with open("/proc/loadavg") as f:
        load = f.read().split()[:3]
    with open("/proc/meminfo") as f:
        mem = int(f.readline().split()[1]) // 1024
    jv = subprocess.run(["java", "-version"], stderr=subprocess.PIPE, text=True).stderr.splitlines()[0]
    # Read from its package.json: `pm2 --version` would start a daemon of its own.
    with open(os.path.join(os.path.dirname(os.path.realpath(a.pm2)), "..", "package.json")) as f:
        pm2v = json.load(f)["version"]
    supv = sh("supervisord", "--version").strip()
    res = {"meta": {"mode": a.mode, "n": a.n, "crashes": a.crashes, "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "machine": f"{os.cpu_count()} cores, {mem} MB RAM, {platform.platform()}, {jv}, "
                               f"PM2 {pm2v}, supervisord {supv}, load average at start {' '.join(load)}"},
           "start": {}, "restart_fast": {}, "restart_fast_kernel": {}, "restart_default": {}, "crashloop": {}, "grandchild_default": {},
           "grandchild_best": {}, "supervisor_kill": {}, "idle": {}}
    for tool in a.tools.split(","):
        log(f"== {tool}")
        for scenario in (lambda: scenario_start_restart_idle(tool, a, res),
                         lambda: scenario_defaults_and_crashloop(tool, a, res),
                         lambda: scenario_grandchild(tool, a, res, fast=False),
                         lambda: scenario_grandchild(tool, a, res, fast="group") if tool != "deia"
                         # deia has no setting for it: its stop always ends the agent's process group.
                         else res["grandchild_best"].update(deia=res["grandchild_default"]["deia"]),
                         lambda: scenario_supervisor_kill(tool, a, res)):
            try:
                scenario()
            except Exception as e:  # the run goes on; check() reports the missing figures and fails it
                log(f"  {tool}: scenario failed: {e!r}")
                res.setdefault("errors", []).append(f"{tool}: {e!r}")
    with open("/proc/loadavg") as f:
        res["meta"]["load_at_end"] = " ".join(f.read().split()[:3])
    md = markdown(res)
    problems = check(res, a.tools.split(","))
    with open(a.out + ".json", "w") as f:
        json.dump(res, f, indent=2)
    with open(a.out + ".md", "w") as f:
        f.write(md)
    print(md)
    if problems:
        print("INCOMPLETE RUN: " + "; ".join(problems) + f" (logs and hives kept in {a.work})", file=sys.stderr)
        sys.exit(1)
    shutil.rmtree(a.work, ignore_errors=True)


def check(res, tools):
    """What a run must have produced for every tool; a missing figure fails the run (CI relies on it)."""
    problems = list(res.get("errors", []))
    for tool in tools:
        if res["start"].get(tool, {}).get("n", 0) == 0:
            problems.append(f"{tool}: workloads never all running")
        for key in ("restart_fast", "restart_default"):
            if res[key].get(tool, {}).get("n", 0) == 0:
                problems.append(f"{tool}: no {key} figure")
        for key in ("crashloop", "grandchild_default", "grandchild_best", "supervisor_kill", "idle"):
            if tool not in res[key]:
                problems.append(f"{tool}: no {key} result")
    return problems


if __name__ == "__main__":
    main()
