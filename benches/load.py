#!/usr/bin/env python3
"""End-to-end load benchmark: sockhttp against nginx, same machine, same run.

Starts the release examples (`hello` for hello-world text, `static_site` for
files) and nginx (`return 200` and static files, one worker process), pins
each server to CPU 0 and the load generator (wrk) to CPU 1 with taskset, and
drives every scenario REPEAT times, sockhttp and nginx back to back in each
round (which goes first alternates), each after a second of warm-up,
reporting medians. Prints a table with requests/s, MB/s, p50 and p99
latency, errors, and our/nginx ratios: the median of the per-round ratios,
so that the slow drifts of a shared machine cancel out.

Scenarios:
  hello-16, hello-256     hello-world text at 16 and 256 connections
  pipe-16                 hello-world, 16 connections each pipelining 16
                          requests at a time (benches/pipeline.lua)
  4k-16, 4k-256           a 4 KiB static file
  1m-16                   a 1 MiB static file (MB/s)
  idle10k-16              16 active clients while 10,000 idle keep-alive
                          connections are held (also the server's RSS)
  noidle-16               the same 16 clients without the idle ones

With --syscalls (Linux, needs `perf` with tracepoints: Debian's
linux-perf), the hello-16, pipe-16 and idle10k-16 runs of sockhttp also
count the server's system calls during the load and print them per
request: what a request costs on a kept-alive connection, and whether
parking idle connections taxes the busy ones.

With --baseline DIR (another checkout of sockhttp, e.g. a `git worktree`
of an older commit), that checkout's examples run too, as a third server
in every round: each change is then measured against the code before it
in the same rounds, beside nginx, and the table adds the ratio of this
tree to the baseline (the median of the per-round ratios).

Usage: python3 benches/load.py [--duration 10] [--repeat 3] [--only NAME,...] [--syscalls]
                               [--baseline DIR]
Needs: wrk, nginx, taskset (Debian: apt-get install wrk nginx util-linux).
Every process it starts is ended by its PID.
"""
import argparse, os, re, resource, shutil, signal, socket, statistics
import subprocess, sys, tempfile, time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SERVER_CPU, LOAD_CPU = "0", "1"
# sockhttp's worker pool in every scenario: the 10,000-idle-connections
# scenario is "a pool of 4 workers", and one pinned CPU needs no more.
THREADS = 4
# Seconds of load before each measured run, not counted.
WARMUP = 1


def sh(*cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, timeout=20):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"port {port} did not open")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=35)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def raise_nofile():
    """Raises this process's open-file limit, which the servers and load
    generators it starts inherit: to the hard limit or 65,536, whichever
    is higher (without the privilege to raise the hard limit, to the hard
    limit). Returns the limit in force."""
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(max(hard, 65536), 1 << 20)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def tree_rss_kib(pid):
    """RSS of a process and its children (nginx's master and worker)."""
    total = rss_kib(pid)
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        for child in out.split():
            total += rss_kib(int(child))
    except FileNotFoundError:
        pass
    return total


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_wrk(out):
    def lat(pct):
        m = re.search(rf"^\s*{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    m = re.search(r"Transfer/sec:\s+([\d.]+)(B|KB|MB|GB)", out)
    mbs = float(m.group(1)) * {"B": 1e-6, "KB": 1e-3, "MB": 1, "GB": 1e3}[m.group(2)] if m else 0.0
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errors += int(m.group(1))
    return {"rps": rps, "mbs": mbs, "p50": lat(50), "p99": lat(99), "errors": errors}


def wrk(url, conns, duration, script=None):
    threads = min(conns, 2)
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "--latency", f"-t{threads}", f"-c{conns}",
           f"-d{duration}s", "--timeout", "5s"]
    if script:
        cmd += ["-s", os.path.join(ROOT, "benches", script)]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True).stdout
    r = parse_wrk(out)
    r["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    return r


SYSCALLS = ["recvfrom", "writev", "sendto", "epoll_ctl", "epoll_pwait", "futex", "write", "read",
            "setsockopt", "accept4"]


def count_syscalls(pid, seconds):
    """Starts `perf stat` counting the server's system calls (every
    thread) for `seconds`; returns the process, to be read by
    `read_syscalls`."""
    events = ",".join(f"syscalls:sys_enter_{name}" for name in SYSCALLS)
    return subprocess.Popen(
        ["perf", "stat", "-x", ",", "-e", events, "-p", str(pid), "--", "sleep", str(seconds)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)


def read_syscalls(proc):
    _, err = proc.communicate()
    counts = {}
    for line in err.splitlines():
        fields = line.split(",")
        if len(fields) > 2 and fields[2].startswith("syscalls:sys_enter_"):
            name = fields[2][len("syscalls:sys_enter_"):]
            counts[name] = int(fields[0]) if fields[0].isdigit() else 0
    return counts


class IdleHolder:
    """Holds N idle keep-alive connections: each sends one request, reads
    the response, and then stays open and silent."""

    BATCH = 500

    def __init__(self, port, path, n):
        self.socks = []
        req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
        while len(self.socks) < n:
            batch = []
            for _ in range(min(self.BATCH, n - len(self.socks))):
                s = socket.create_connection(("127.0.0.1", port), timeout=30)
                s.sendall(req)
                batch.append(s)
            self._drain(batch)
            self.socks.extend(batch)

    @staticmethod
    def _drain(socks):
        for s in socks:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = s.recv(4096)
                if not chunk:
                    raise RuntimeError("idle connection closed by the server")
                data += chunk

    def close(self):
        for s in self.socks:
            s.close()


def nginx_conf(prefix, port, root):
    return f"""
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log warn;
events {{ worker_connections 20000; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ text/plain txt; application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = / {{ default_type text/plain; return 200 "hello"; }}
        location / {{ root {root}; }}
    }}
}}
"""


def target_dir(tree):
    """Where the release examples of the checkout `tree` are built."""
    if tree == ROOT and os.environ.get("CARGO_TARGET_DIR"):
        return os.environ["CARGO_TARGET_DIR"]
    return os.path.join(tree, "target")


def start_sockhttp(kind, root, port, tree):
    exe = os.path.join(target_dir(tree), "release", "examples", kind)
    args = [exe, f"127.0.0.1:{port}", str(THREADS)] if kind == "hello" else \
        [exe, "--addr", f"127.0.0.1:{port}", "--root", root, "--no-listing", "--threads", str(THREADS)]
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def start_nginx(prefix, root, port):
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(prefix, port, root))
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, "nginx", "-p", prefix, "-c", conf],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


SCENARIOS = [
    # name, sockhttp example, path, connections, idle connections, wrk script
    ("hello-16", "hello", "/", 16, 0, None),
    ("hello-256", "hello", "/", 256, 0, None),
    ("pipe-16", "hello", "/", 16, 0, "pipeline.lua"),
    ("4k-16", "static_site", "/4k.bin", 16, 0, None),
    ("4k-256", "static_site", "/4k.bin", 256, 0, None),
    ("1m-16", "static_site", "/1m.bin", 16, 0, None),
    ("noidle-16", "hello", "/", 16, 0, None),
    ("idle10k-16", "hello", "/", 16, 10000, None),
]
COUNTED = {"hello-16", "pipe-16", "idle10k-16"}
# Scenarios run round-robin with each other: the idle scenario is compared
# with its no-idle twin run just before it.
GROUPS = [["hello-16"], ["hello-256"], ["pipe-16"], ["4k-16"], ["4k-256"], ["1m-16"],
          ["noidle-16", "idle10k-16"]]


def run_once(server, name, example, path, conns, idle, script, args, root, prefix):
    """One run of one scenario against one server."""
    port = free_port()
    if server == "nginx":
        proc = start_nginx(prefix, root, port)
    else:
        proc = start_sockhttp(example, root, port, args.baseline if server == "baseline" else ROOT)
    holder = None
    try:
        if idle:
            holder = IdleHolder(port, path, idle)
        # Warm up (connections, page cache, allocator) before measuring.
        url = f"http://127.0.0.1:{port}{path}"
        wrk(url, conns, WARMUP, script)
        counter = None
        if args.syscalls and server != "nginx" and name in COUNTED:
            counter = count_syscalls(proc.pid, args.duration)
        r = wrk(url, conns, args.duration, script)
        if counter:
            counts = read_syscalls(counter)
            r["calls"] = {k: v / max(r["requests"], 1) for k, v in counts.items()}
        r["rss_mib"] = tree_rss_kib(proc.pid) / 1024
        return r
    finally:
        if holder:
            holder.close()
        stop(proc)


def medians(runs):
    med = {k: statistics.median(r[k] for r in runs) for k in ("rps", "mbs", "p50", "p99", "rss_mib")}
    med["errors"] = sum(r["errors"] for r in runs)
    calls = [r["calls"] for r in runs if "calls" in r]
    if calls:
        med["calls"] = {k: statistics.median(c.get(k, 0) for c in calls) for k in SYSCALLS}
    return med


def paired(a_runs, b_runs, key):
    """The median of the ratios of runs made back to back (round i of a
    against round i of b): slow drifts of a shared machine cancel out."""
    return statistics.median(a[key] / max(b[key], 1e-9) for a, b in zip(a_runs, b_runs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="")
    ap.add_argument("--syscalls", action="store_true",
                    help="count sockhttp's system calls per request with perf")
    ap.add_argument("--baseline", metavar="DIR",
                    help="another sockhttp checkout to measure in the same rounds")
    args = ap.parse_args()
    servers = ["sockhttp", "nginx"]
    if args.baseline:
        args.baseline = os.path.abspath(args.baseline)
        servers = ["sockhttp", "baseline", "nginx"]
    for tool in ("wrk", "nginx", "taskset"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (Debian: apt-get install wrk nginx util-linux)")
    raise_nofile()
    for tree in [ROOT] + ([args.baseline] if args.baseline else []):
        env = dict(os.environ)
        env["CARGO_TARGET_DIR"] = target_dir(tree)
        sh("cargo", "build", "--release", "-q", "--example", "hello", "--example", "static_site",
           cwd=tree, env=env)
    only = set(filter(None, args.only.split(",")))
    with tempfile.TemporaryDirectory(prefix="sockhttp-bench-") as tmp:
        root = os.path.join(tmp, "www")
        prefix = os.path.join(tmp, "nginx")
        os.makedirs(root)
        os.makedirs(prefix)
        # nginx's workers run as an unprivileged user: let them read.
        os.chmod(tmp, 0o755)
        os.chmod(root, 0o755)
        with open(os.path.join(root, "4k.bin"), "wb") as f:
            f.write(os.urandom(4096))
        with open(os.path.join(root, "1m.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        for name in ("4k.bin", "1m.bin"):
            os.chmod(os.path.join(root, name), 0o644)
        print(f"wrk on CPU {LOAD_CPU}, servers on CPU {SERVER_CPU}; {args.duration}s x {args.repeat} runs, medians\n")
        hdr = f"{'scenario':<12} {'server':<9} {'req/s':>10} {'MB/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'RSS MiB':>8}"
        print(hdr)
        print("-" * len(hdr))
        by_name = {sc[0]: sc for sc in SCENARIOS}
        runs = {}
        for group in GROUPS:
            names = [n for n in group if not only or n in only]
            if not names:
                continue
            # Round-robin: each round runs every scenario of the group on
            # every server back to back, the order rotating from round to
            # round, so that none always runs on a machine another warmed.
            for i in range(args.repeat):
                order = servers[i % len(servers):] + servers[:i % len(servers)]
                for n in names:
                    for server in order:
                        r = run_once(server, *by_name[n], args, root, prefix)
                        runs.setdefault((n, server), []).append(r)
            for n in names:
                for server in servers:
                    r = medians(runs[(n, server)])
                    print(f"{n:<12} {server:<9} {r['rps']:>10.0f} {r['mbs']:>8.1f} {r['p50']:>8.3f} "
                          f"{r['p99']:>8.3f} {r['errors']:>7} {r['rss_mib']:>8.1f}", flush=True)
        table = {k: medians(v) for k, v in runs.items()}
        pairs = [("sockhttp", "nginx")]
        if args.baseline:
            pairs += [("baseline", "nginx"), ("sockhttp", "baseline")]
        for top, bottom in pairs:
            print(f"\nratios ({top} / {bottom}: median of the ratios of back-to-back runs):")
            for name, *_ in SCENARIOS:
                if (name, top) in runs:
                    a, b = runs[(name, top)], runs[(name, bottom)]
                    ratios = " ".join(f"{x['rps'] / y['rps']:.2f}" for x, y in zip(a, b))
                    print(f"  {name:<12} req/s {paired(a, b, 'rps'):.2f}x   MB/s {paired(a, b, 'mbs'):.2f}x"
                          f"   (rounds: {ratios})")
        for server in servers[:-1]:
            counted = [(n, table[(n, server)]["calls"]) for n, *_ in SCENARIOS
                       if "calls" in table.get((n, server), {})]
            if counted:
                print(f"\n{server} system calls per request (perf, all threads, medians):")
                print(f"  {'scenario':<12} " + " ".join(f"{c:>11}" for c in SYSCALLS))
                for n, calls in counted:
                    print(f"  {n:<12} " + " ".join(f"{calls[c]:>11.3f}" for c in SYSCALLS))
        if ("idle10k-16", "sockhttp") in runs and ("noidle-16", "sockhttp") in runs:
            ratio = paired(runs[("idle10k-16", "sockhttp")], runs[("noidle-16", "sockhttp")], "rps")
            print(f"\nsockhttp with 10,000 idle connections: {ratio:.2f}x of its no-idle req/s "
                  f"(median of back-to-back rounds), RSS {table[('idle10k-16', 'sockhttp')]['rss_mib']:.1f} MiB")


if __name__ == "__main__":
    main()
