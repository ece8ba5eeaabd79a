#!/usr/bin/env python3
"""deia-only figures of docs/benchmarks.md, collected in one run: medians and spreads, not single runs.

Runs the benchmark mains of deia-bench (RegistryBenchmark, TaskQueueBenchmark, LaunchBenchmark,
ChatBenchmark, ProjectBenchmark, PermissionBenchmark, MetricsBenchmark, SchedulingBenchmark,
WebhookOutboxBenchmark) R times each, round-robin (so a change of load on a shared machine touches every
benchmark rather than all runs of one), reads the one `BENCH-RESULT {json}` line each main prints at
its end, and reports per figure: median, min–max, n, the target from the issues, and met?.
The machine is described alongside (cores, memory, CPU model, kernel, JDK, load average at start
and end, cost of one durable write). Called by run.sh; needs python3, java, the deia jar and the
compiled deia-bench classes.

Exit status: 1 when a benchmark run crashed (non-zero exit, timeout) or printed no result line or
lacked a figure; a missed target is reported, never a failure (timings are not asserted).
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
import time

BENCH = "io.deia.bench."

# name -> (main class, {mode: (JVM system properties, program arguments)}). "{tmp}" is the run's
# own temp folder. The smoke sizes only check that every figure is still produced. The full sizes are the ones docs/benchmarks.md documents for each main; the
# registry main repeats 5 runs inside by default, here each harness repetition is one run
# (deia.bench.runs=1), so R=5 gives the same 5 samples.
BENCHMARKS = {
    "registry": ("RegistryBenchmark", {
        "smoke": (["-Ddeia.bench.runs=1", "-Ddeia.bench.warmupMs=500"], ["1", "4"]),
        "small": (["-Ddeia.bench.runs=1"], ["1", "16"]),
        "full": (["-Ddeia.bench.runs=1"], ["3", "16"]),
    }),
    "taskqueue": ("TaskQueueBenchmark", {
        "smoke": ([], ["50", "{tmp}/taskq", "1"]),
        "small": ([], ["200", "{tmp}/taskq", "3"]),
        "full": ([], ["1000", "{tmp}/taskq", "3"]),
    }),
    "launch": ("LaunchBenchmark", {
        "smoke": ([], ["1"]),
        "small": ([], ["1"]),
        "full": ([], ["5"]),
    }),
    "chat": ("ChatBenchmark", {
        "smoke": ([], ["50", "5"]),
        "small": ([], ["200", "5"]),
        "full": ([], ["2000", "60"]),
    }),
    # files in the repository, tasks started, files in the diffed change, new worktrees, folder
    "project": ("ProjectBenchmark", {
        "smoke": ([], ["2000", "5", "100", "1", "{tmp}/project"]),
        "small": ([], ["10000", "20", "500", "2", "{tmp}/project"]),
        "full": ([], ["10000", "30", "500", "3", "{tmp}/project"]),
    }),
    "permission": ("PermissionBenchmark", {
        "smoke": ([], ["30", "50"]),
        "small": ([], ["300", "50"]),
        "full": ([], ["1000", "50"]),
    }),
    # measured scrapes, bots, turns in each bot's ledger
    "metrics": ("MetricsBenchmark", {
        "smoke": ([], ["50", "50", "200"]),
        "small": ([], ["300", "50", "200"]),
        "full": ([], ["1000", "50", "200"]),
    }),
    # measured slot acquire + release pairs (limits set; then none)
    "scheduling": ("SchedulingBenchmark", {
        "smoke": ([], ["500"]),
        "small": ([], ["5000"]),
        "full": ([], ["20000"]),
    }),
    # events written to the outbox (then delivered to a local receiver), writer threads
    "webhooks": ("WebhookOutboxBenchmark", {
        "smoke": ([], ["200", "4"]),
        "small": ([], ["2000", "4"]),
        "full": ([], ["4000", "4"]),
    }),
}

# Seconds one run of a benchmark may take when longer than the mode's limit: the project main writes a
# 10,000-file repository and several checkouts of it, minutes on a loaded 2-core machine.
TIMEOUT_S = {"project": 900}

# (benchmark, key in its BENCH-RESULT, label, unit, target as (op, value, text) or None). Every key
# listed here must be in every result line of its benchmark; a missing one fails the run.
FIGURES = [
    ("registry", "updates_per_s_1_proc", "registry durable updates/s, 1 process (runner JVM options)", "/s", None),
    ("registry", "updates_per_s_4_proc", "registry durable updates/s, 4 processes (runner JVM options)", "/s",
     (">=", 500, "≥ 500 /s")),
    ("registry", "updates_per_s_4_proc_default_jvm", "registry durable updates/s, 4 processes (default JVM options)", "/s",
     None),
    ("taskqueue", "pickup_p50_ms", "task pickup latency p50 (rename into inbox → executor; runner JVM options)", "ms",
     ("<=", 2.0, "≤ 2 ms")),
    ("taskqueue", "pickup_p99_ms", "task pickup latency p99", "ms", ("<=", 20.0, "≤ 20 ms")),
    ("taskqueue", "queue_tasks_per_s", "queue throughput (spawn /bin/true, durable response + archive)", "/s", None),
    ("taskqueue", "bare_spawns_per_s", "bare spawn loop (/bin/true)", "/s", None),
    ("taskqueue", "queue_bare_ratio", "ratio queue / bare spawn loop (runner JVM options)", "", (">=", 0.5, "≥ 0.5")),
    ("taskqueue", "queue_bare_ratio_default_jvm", "ratio queue / bare spawn loop (default JVM options)", "", None),
    ("taskqueue", "pickup_p50_ms_default_jvm", "task pickup latency p50 (default JVM options)", "ms", None),
    ("chat", "chat_instant_p50_ms", "chat WS in → first delta out, instant bot, p50", "ms", ("<=", 5.0, "≤ 5 ms")),
    ("chat", "chat_instant_p99_ms", "chat WS in → first delta out, instant bot, p99", "ms", None),
    ("chat", "chat_real_bot_p50_ms", "chat WS in → first delta out, real runner + /usr/bin/cat, p50", "ms", None),
    ("chat", "controller_cpu_pct", "controller CPU, 50 bots, /api/bots polled every 5 s", "% of a core", ("<=", 2.0, "≤ 2 %")),
    ("permission", "request_to_ws_p50_ms", "permission: CLI request line → permission_request on a dashboard WebSocket, p50",
     "ms", ("<=", 10.0, "≤ 10 ms")),
    ("permission", "request_to_ws_p99_ms", "permission: CLI request line → dashboard WebSocket, p99", "ms", None),
    ("permission", "answer_to_stdin_p50_ms", "permission: API answer → response line read on the CLI's stdin, p50", "ms",
     ("<=", 10.0, "≤ 10 ms")),
    ("permission", "answer_to_stdin_p99_ms", "permission: API answer → CLI's stdin, p99", "ms", None),
    ("permission", "answer_bot_port_to_stdin_p50_ms", "permission: answer to the bot port directly → CLI's stdin, p50", "ms",
     None),
    ("permission", "answer_http_p50_ms", "permission: the API answer's HTTP round trip through the controller, p50", "ms", None),
    ("launch", "launch_1_bot_p50_ms", "launch-to-healthy, 1 bot (p50 of the run)", "ms", ("<=", 1000, "≤ 1.0 s")),
    ("launch", "launch_10_bots_all_healthy_ms", "10 bots launched together, all healthy", "ms", ("<=", 6000, "≤ 6 s")),
    ("launch", "runner_idle_rss_mb", "bot runner idle RSS (5 s after healthy)", "MB", ("<=", 80, "≤ 80 MB")),
    ("launch", "restart_p50_ms", "runner kill -9 → healthy again (backoff 0; p50 of the run)", "ms",
     ("<=", 1500, "≤ 1.5 s + backoff")),
    ("project", "worktree_create_ms", "new bot's worktree of a 10,000-file repository (worktree add, copy_files, exclude)",
     "ms", ("<=", 2000, "≤ 2 s")),
    ("project", "git_worktree_add_ms", "git worktree add of the same repository, git alone (for comparison)", "ms", None),
    ("project", "task_start_p50_ms", "task start on a project bot (branch from base tip + switch), p50", "ms",
     ("<=", 150, "≤ 150 ms")),
    ("project", "task_start_p99_ms", "task start on a project bot, p99", "ms", None),
    ("project", "commit_turn_p50_ms", "deia's commit after a turn that changed one file, p50", "ms", None),
    ("project", "diff_p50_ms", "diff of a 500-file change (ProjectReview.diff + JSON)", "ms", ("<=", 1000, "≤ 1 s")),
    ("project", "git_spawn_p50_ms", "one trivial git command (rev-parse HEAD), the unit of the figures above", "ms", None),
    ("metrics", "scrape_p50_ms", "GET /metrics, 50 bots with 200 ledger turns each, p50", "ms", ("<=", 50, "≤ 50 ms")),
    ("metrics", "scrape_p99_ms", "GET /metrics, 50 bots, p99", "ms", None),
    ("metrics", "cpu_at_15s_pct", "GET /metrics: controller CPU at one scrape per 15 s", "% of a core", ("<=", 0.5, "≤ 0.5 %")),
    ("scheduling", "acquire_release_p50_ms", "turn slot acquire + release with limits set, p50", "ms", ("<=", 2, "≤ 2 ms")),
    ("scheduling", "acquire_release_p99_ms", "turn slot acquire + release with limits set, p99", "ms", None),
    ("webhooks", "outbox_writes_per_s", "webhook events written durably to the outbox, 4 threads", "/s", (">=", 500, "≥ 500 /s")),
    ("webhooks", "deliveries_per_s", "webhook deliveries to a local receiver", "/s", None),
    ("metrics", "first_scrape_ms", "GET /metrics: first scrape after a start (reads every ledger whole)", "ms", None),
]


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def durable_write_ms(folder, n=100):
    """Median cost of one durable 1 KB write (temp + fsync + rename + folder fsync), the primitive
    most deia figures pay for; on a shared disk it moves with the other builds' writes."""
    times = []
    data = b"x" * 1024
    dfd = os.open(folder, os.O_RDONLY)
    try:
        for _ in range(n):
            t0 = time.perf_counter()
            tmp = os.path.join(folder, "probe.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            os.write(fd, data)
            os.fsync(fd)
            os.close(fd)
            os.rename(tmp, os.path.join(folder, "probe.json"))
            os.fsync(dfd)
            times.append((time.perf_counter() - t0) * 1000)
    finally:
        os.close(dfd)
    return round(statistics.median(times), 3)


def machine(java):
    info = {"cores_nproc": int(subprocess.run(["nproc"], stdout=subprocess.PIPE, text=True).stdout.strip())}
    with open("/proc/meminfo") as f:
        mem = {line.split(":")[0]: int(line.split()[1]) for line in f if line.split(":")[0] in ("MemTotal", "MemAvailable")}
    info["memory_total_mb"] = mem.get("MemTotal", 0) // 1024
    info["memory_available_mb_at_start"] = mem.get("MemAvailable", 0) // 1024
    info["cpu_model"] = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                info["cpu_model"] = line.split(":", 1)[1].strip()
                break
    info["kernel"] = f"{platform.system()} {platform.release()}"
    jv = subprocess.run([java, "-version"], stderr=subprocess.PIPE, text=True).stderr.strip().splitlines()
    info["jdk"] = " / ".join(jv)
    return info


def leftovers(marker):
    """Processes whose command line mentions this run's temp folder (runner JVMs, agents, workers)."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/cmdline", "rb") as f:
                if marker.encode() in f.read():
                    found.append(int(d))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def run_once(name, mode, java, classpath, work, index, timeout):
    cls, sizes = BENCHMARKS[name]
    props, args = sizes[mode]
    tmp = os.path.join(work, f"{name}-{index}")
    os.makedirs(tmp)
    cmd = [java, f"-Djava.io.tmpdir={tmp}", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
           *props, "-cp", classpath, BENCH + cls, *[a.replace("{tmp}", tmp) for a in args]]
    rec = {"run": index, "command": " ".join(cmd), "load_before": loadavg()}
    out_path = os.path.join(work, f"{name}-{index}.log")
    t0 = time.monotonic()
    with open(out_path, "w") as out:
        # A session of its own: on a timeout the main and every process it started are ended together.
        p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            rc = p.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
            rc = None
    rec["seconds"] = round(time.monotonic() - t0, 1)
    rec["load_after"] = loadavg()
    with open(out_path, errors="replace") as f:
        text = f.read()
    result = None
    for line in text.splitlines():
        if line.startswith("BENCH-RESULT "):
            result = json.loads(line[len("BENCH-RESULT "):])
    left = leftovers(tmp)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if left:
        rec["leftover_processes_killed"] = len(left)
    if rc is None:
        rec["error"] = f"timed out after {timeout} s"
    elif rc != 0:
        rec["error"] = f"exit {rc}"
    elif result is None:
        rec["error"] = "no BENCH-RESULT line"
    else:
        missing = [k for b, k, *_ in FIGURES if b == name and k not in result]
        if missing:
            rec["error"] = f"BENCH-RESULT lacks {', '.join(missing)}"
    if result is not None:
        rec["result"] = result
    if "error" in rec:
        rec["output_tail"] = text[-3000:]
    else:
        shutil.rmtree(tmp, ignore_errors=True)
    return rec


def met(value, target):
    op, limit, _ = target
    return value >= limit if op == ">=" else value <= limit


def summarize(runs):
    rows = []
    for bench, key, label, unit, target in FIGURES:
        if bench not in runs:
            continue
        values = [r["result"][key] for r in runs.get(bench, []) if "error" not in r and key in r.get("result", {})]
        row = {"benchmark": bench, "key": key, "label": label, "unit": unit, "values": values, "n": len(values)}
        if values:
            row.update(median=statistics.median(values), min=min(values), max=max(values))
        if target:
            row["target"] = target[2]
            row["met"] = met(row["median"], target) if values else None
        rows.append(row)
    return rows


def num(v, unit):
    if unit == "" or abs(v) < 10:
        return f"{v:.2f}"
    return f"{v:.0f}"


def markdown(res):
    m = res["meta"]
    mc = m["machine"]
    out = [f"deia-only figures, mode {m['mode']}, {m['repetitions']} runs of each benchmark (round-robin), "
           f"started {m['started']}, {m['total_seconds']:.0f} s in all.", "",
           f"Machine: {mc['cores_nproc']} cores (nproc), {mc['cpu_model']}, {mc['memory_total_mb']} MB RAM "
           f"({mc['memory_available_mb_at_start']} MB available at start), {mc['kernel']}, {mc['jdk']}.",
           f"Load average (1/5/15 min) at start {m['load_at_start']}, at end {m['load_at_end']}; one durable 1 KB write "
           f"(temp + fsync + rename + folder fsync, median of 100) {m['durable_write_ms_at_start']} ms at start, "
           f"{m['durable_write_ms_at_end']} ms at end.", "",
           "| figure | benchmark | median | min–max | n | target | met? |", "|---|---|---|---|---|---|---|"]
    for r in res["figures"]:
        u = f" {r['unit']}" if r["unit"] else ""
        if r["n"]:
            med = f"{num(r['median'], r['unit'])}{u}"
            spread = f"{num(r['min'], r['unit'])}–{num(r['max'], r['unit'])}"
        else:
            med, spread = "n/a", "n/a"
        target = r.get("target", "—")
        ok = "—" if "target" not in r else ("n/a" if r["met"] is None else ("yes" if r["met"] else "**no**"))
        out.append(f"| {r['label']} | `{BENCHMARKS[r['benchmark']][0]}` | {med} | {spread} | {r['n']} | {target} | {ok} |")
    out += ["", "Sizes (arguments of each main; every run is a fresh JVM):", ""]
    for name in res["meta"]["benchmarks"]:
        cls, sizes = BENCHMARKS[name]
        props, args = sizes[m["mode"]]
        loads = [r["load_before"].split()[0] for r in res["runs"].get(name, [])]
        secs = [r["seconds"] for r in res["runs"].get(name, [])]
        shown = " ".join(props + args).replace("{tmp}", "<tmp>")
        out.append(f"- `{cls}` {shown}: runs took {', '.join(f'{s:.0f}' for s in secs)} s; "
                   f"1-min load before each run {', '.join(loads)}")
    errors = [f"{name} run {r['run']}: {r['error']}" for name, rs in res["runs"].items() for r in rs if "error" in r]
    if errors:
        out += ["", "FAILED RUNS: " + "; ".join(errors)]
    return "\n".join(out) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mode", choices=["smoke", "small", "full"], default="small")
    ap.add_argument("--jar", required=True, help="deia-server-example/target/deia-server.jar")
    ap.add_argument("--classes", required=True, help="deia-bench/target/classes")
    ap.add_argument("--out", required=True, help="output path without .md/.json")
    ap.add_argument("--repetitions", type=int, help="runs of each benchmark (default: smoke 1, small 3, full 5)")
    ap.add_argument("--benchmarks", default=",".join(BENCHMARKS), help="subset of " + ",".join(BENCHMARKS))
    a = ap.parse_args()
    reps = a.repetitions or {"full": 5, "small": 3, "smoke": 1}[a.mode]
    names = [n for n in a.benchmarks.split(",") if n]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        ap.error(f"unknown benchmark(s) {unknown}; known: {', '.join(BENCHMARKS)}")
    java = shutil.which("java") or "java"
    classpath = f"{os.path.abspath(a.jar)}:{os.path.abspath(a.classes)}"
    work = tempfile.mkdtemp(prefix="deia-only-")
    timeout = 1800 if a.mode == "full" else 300
    t_start = time.monotonic()
    res = {"meta": {"mode": a.mode, "repetitions": reps, "benchmarks": names,
                    "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                    "machine": machine(java), "load_at_start": loadavg(),
                    "durable_write_ms_at_start": durable_write_ms(work)},
           "runs": {n: [] for n in names}}
    for i in range(1, reps + 1):
        for name in names:
            log(f"== deia-only: {name} run {i}/{reps} (load {loadavg()})")
            rec = run_once(name, a.mode, java, classpath, work, i, max(timeout, TIMEOUT_S.get(name, 0)))
            res["runs"][name].append(rec)
            log(f"   {rec.get('error') or rec['result']} ({rec['seconds']} s)")
    res["meta"]["load_at_end"] = loadavg()
    res["meta"]["durable_write_ms_at_end"] = durable_write_ms(work)
    res["meta"]["total_seconds"] = round(time.monotonic() - t_start, 1)
    res["figures"] = summarize(res["runs"])
    md = markdown(res)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    with open(a.out + ".json", "w") as f:
        json.dump(res, f, indent=2)
    with open(a.out + ".md", "w") as f:
        f.write(md)
    print(md)
    failed = [r for rs in res["runs"].values() for r in rs if "error" in r]
    if failed:
        for r in failed:
            log(f"--- failed run: {r['command']}\n{r['error']}\n{r.get('output_tail', '')}")
        log(f"deia-only: {len(failed)} run(s) failed; logs kept in {work}")
        sys.exit(1)
    missed = [r["label"] for r in res["figures"] if r.get("met") is False]
    if missed:
        log(f"deia-only: targets missed (reported, not a failure): {'; '.join(missed)}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
