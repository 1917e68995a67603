#!/usr/bin/env python3
"""WebSocket benchmark: sockhttp's echo_api against a tokio-tungstenite peer,
same machine, same run.

Builds and starts the release `echo_api` example (a pool of 4 workers,
WebSocket echo at /ws/echo) and the peer (benches/ws_peer: tokio-tungstenite
on a current_thread runtime, echo on any path), pins each server to CPU 0
and the load generator (benches/ws_peer's `wsload`, threads and blocking
sockets) to CPU 1 with taskset, and measures each scenario REPEAT times,
both servers back to back in each round (which goes first alternates),
each a fresh server process, reporting medians, and sockhttp/peer ratios:
the median of the per-round ratios, so that the slow drifts of a shared
machine cancel out.

Scenarios:
  idle10k          10,000 idle sessions (handshake done, then silent) held
                   open: the server's threads, its RSS before and while
                   they are held, and bytes per idle session
                   ((RSS held - RSS before) / 10,000)
  echo-16          16 busy sessions, each doing echo round trips of a
                   32-byte text message back to back: round trips/s, p50
                   and p99 round-trip latency, errors (1 s of unmeasured
                   warm-up first)
  echo-16-idle10k  the same while the 10,000 idle sessions are held, run
                   in the same rounds as echo-16 (and its ratio to it)

Threads and RSS are read from /proc/PID/status while the idle sessions are
held, or halfway through the load without them.

The peer runs with tungstenite's default configuration, whose 128 KiB
read buffer per session is most of what its idle sessions cost;
--peer-read-buffer BYTES gives it a smaller one.

If echo_api does not serve WebSockets at /ws/echo, the script says so and
stops; --peer-only then checks the benchmark against the peer alone.

Usage: python3 benches/ws_load.py [--duration 10] [--repeat 3] [--only NAME,...]
                                  [--peer-only] [--peer-read-buffer BYTES]
Needs: cargo, taskset (Debian: util-linux). Every process it starts is
ended by its PID.
"""
import argparse, os, re, shutil, socket, statistics, subprocess, sys, time

from load import LOAD_CPU, ROOT, SERVER_CPU, THREADS, WARMUP, paired, raise_nofile, rss_kib, sh, stop, target_dir

PEER_DIR = os.path.join(ROOT, "benches", "ws_peer")
IDLE = 10000
# Seconds a wsload run may take beyond its load (opening 10,000 sessions
# included) before it counts as hung.
SLACK = 120

SCENARIOS = [
    # name, idle sessions, busy sessions
    ("idle10k", IDLE, 0),
    ("echo-16", 0, 16),
    ("echo-16-idle10k", IDLE, 16),
]
# Scenarios run round-robin with each other: the idle variant is compared
# with its no-idle twin run just before it.
GROUPS = [["idle10k"], ["echo-16", "echo-16-idle10k"]]
# The echo endpoint's path on each server.
PATHS = {"sockhttp": "/ws/echo", "peer": "/"}


def peer_target():
    """Where the peer's project is built: beside the main crate's builds."""
    return os.path.join(target_dir(ROOT), "ws_peer")


def exe(name):
    if name == "sockhttp":
        return os.path.join(target_dir(ROOT), "release", "examples", "echo_api")
    return os.path.join(peer_target(), "release", name)


def start(server, args):
    """Starts a server pinned to SERVER_CPU on a free port; returns the
    process and its announced HOST:PORT."""
    cmd = [exe("sockhttp"), "--addr", "127.0.0.1:0", "--threads", str(THREADS)] if server == "sockhttp" else \
        [exe("peer"), "--addr", "127.0.0.1:0"] + \
        (["--read-buffer-bytes", str(args.peer_read_buffer)] if args.peer_read_buffer else [])
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + cmd,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.match(r"listening on http://(\S+)", line)
    if not m:
        stop(proc)
        raise RuntimeError(f"{server} did not announce its address (printed {line!r})")
    return proc, m.group(1)


def handshake_status(addr, path):
    """Sends a WebSocket upgrade request; returns the response's status line."""
    host, port = addr.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as s:
        s.sendall(f"GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n".encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return "(connection closed without an answer)"
            data += chunk
    return data.split(b"\r\n", 1)[0].decode(errors="replace")


def check_sockhttp(args):
    """Stops the run, saying why, unless echo_api upgrades /ws/echo."""
    proc, addr = start("sockhttp", args)
    try:
        status = handshake_status(addr, PATHS["sockhttp"])
    finally:
        stop(proc)
    if " 101 " not in f"{status} ":
        sys.exit(f"echo_api does not serve WebSockets at {PATHS['sockhttp']} yet: the upgrade "
                 f"request got {status!r}, not '101 Switching Protocols'.\n"
                 "Run with --peer-only to check the benchmark against the peer alone.")


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def parse_wsload(out):
    r = {"rts": float("nan"), "p50": float("nan"), "p99": float("nan"), "errors": 0}
    m = re.search(r"^round trips: \d+ \(([\d.]+)/s\)$", out, re.M)
    if m:
        r["rts"] = float(m.group(1))
    m = re.search(r"^latency: p50 ([\d.]+|NaN) ms, p99 ([\d.]+|NaN) ms$", out, re.M)
    if m:
        r["p50"], r["p99"] = float(m.group(1)), float(m.group(2))
    m = re.search(r"^errors: (\d+)$", out, re.M)
    if m:
        r["errors"] = int(m.group(1))
    return r


def run_once(server, name, idle, busy, args):
    """One run of one scenario against a fresh server process."""
    proc, addr = start(server, args)
    load = None
    try:
        rss_before = rss_kib(proc.pid)
        cmd = ["taskset", "-c", LOAD_CPU, exe("wsload"), "--url", f"ws://{addr}{PATHS[server]}",
               "--idle", str(idle), "--busy", str(busy), "--duration", str(args.duration),
               "--warmup", str(WARMUP), "--hold"]
        load = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True)
        r = {"rss_before": rss_before / 1024, "bytes_idle": float("nan")}
        if idle:
            line = load.stdout.readline()
            if not line.startswith("idle:"):
                load.wait(timeout=SLACK)
                raise RuntimeError(f"wsload against {server}: {load.stderr.read().strip()}")
            held = rss_kib(proc.pid)
            r["bytes_idle"] = (held - rss_before) * 1024 / idle
        # The sessions are held: sample now, or halfway through the load.
        load.stdin.write("go\n")
        load.stdin.flush()
        if busy and not idle:
            time.sleep(WARMUP + args.duration / 2)
        r["threads"] = status_field(proc.pid, "Threads")
        r["rss"] = rss_kib(proc.pid) / 1024
        out, err = load.communicate(timeout=WARMUP + args.duration + SLACK)
        if load.returncode != 0:
            raise RuntimeError(f"wsload against {server}: {err.strip()}")
        if err.strip():
            print(f"  ({name}, {server}) {err.strip()}", file=sys.stderr)
        r.update(parse_wsload(out) if busy else {"rts": float("nan"), "p50": float("nan"),
                                                 "p99": float("nan"), "errors": 0})
        return r
    finally:
        if load and load.poll() is None:
            load.kill()
            load.wait()
        stop(proc)


KEYS = ("rts", "p50", "p99", "threads", "rss_before", "rss", "bytes_idle")


def medians(runs):
    med = {k: statistics.median(r[k] for r in runs) for k in KEYS}
    med["errors"] = sum(r["errors"] for r in runs)
    return med


def fmt(v, width, decimals):
    """A figure right-aligned in `width` columns; "-" for NaN (not measured)."""
    return f"{'-' if v != v else f'{v:.{decimals}f}':>{width}}"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="", help="some of " + ",".join(n for n, *_ in SCENARIOS))
    ap.add_argument("--peer-only", action="store_true",
                    help="measure the peer alone (while echo_api has no WebSocket endpoint)")
    ap.add_argument("--peer-read-buffer", type=int, metavar="BYTES",
                    help="the peer's read buffer per session (default tungstenite's, 128 KiB)")
    args = ap.parse_args()
    if not shutil.which("taskset"):
        sys.exit("taskset not found (Debian: apt-get install util-linux)")
    only = set(filter(None, args.only.split(",")))
    unknown = only - {n for n, *_ in SCENARIOS}
    if unknown:
        sys.exit(f"unknown scenario(s) {', '.join(sorted(unknown))}")
    # The servers and wsload inherit it: each holds over 10,000 sockets.
    limit = raise_nofile()
    if limit < IDLE + 100:
        sys.exit(f"the open-file limit is {limit}: the servers need over {IDLE} descriptors")
    servers = ["peer"] if args.peer_only else ["sockhttp", "peer"]
    env = dict(os.environ)
    env["CARGO_TARGET_DIR"] = target_dir(ROOT)
    if not args.peer_only:
        sh("cargo", "build", "--release", "-q", "--example", "echo_api", cwd=ROOT, env=env)
    env["CARGO_TARGET_DIR"] = peer_target()
    sh("cargo", "build", "--release", "-q", "--manifest-path", os.path.join(PEER_DIR, "Cargo.toml"), env=env)
    if not args.peer_only:
        check_sockhttp(args)

    pool = "" if args.peer_only else f" (sockhttp: {THREADS} workers)"
    print(f"wsload on CPU {LOAD_CPU}, servers on CPU {SERVER_CPU}{pool}; "
          f"{args.duration}s x {args.repeat} runs, medians\n")
    hdr = (f"{'scenario':<16} {'server':<9} {'rt/s':>9} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} "
           f"{'threads':>7} {'RSS0 MiB':>8} {'RSS MiB':>8} {'B/idle':>7}")
    print(hdr)
    print("-" * len(hdr))
    by_name = {sc[0]: sc for sc in SCENARIOS}
    runs = {}
    for group in GROUPS:
        names = [n for n in group if not only or n in only]
        if not names:
            continue
        # Round-robin: each round runs every scenario of the group on every
        # server back to back, the order rotating from round to round.
        for i in range(args.repeat):
            order = servers[i % len(servers):] + servers[:i % len(servers)]
            for n in names:
                for server in order:
                    runs.setdefault((n, server), []).append(run_once(server, *by_name[n], args))
        for n in names:
            for server in servers:
                r = medians(runs[(n, server)])
                print(f"{n:<16} {server:<9} {fmt(r['rts'], 9, 0)} {fmt(r['p50'], 7, 3)} "
                      f"{fmt(r['p99'], 7, 3)} {r['errors']:>6} {r['threads']:>7.0f} "
                      f"{r['rss_before']:>8.1f} {r['rss']:>8.1f} {fmt(r['bytes_idle'], 7, 0)}",
                      flush=True)
    if not args.peer_only:
        print("\nratios (sockhttp / peer: median of the ratios of back-to-back runs):")
        for name, idle, busy in SCENARIOS:
            if (name, "sockhttp") not in runs:
                continue
            a, b = runs[(name, "sockhttp")], runs[(name, "peer")]
            key, label = ("rts", "rt/s") if busy else ("bytes_idle", "B/idle")
            rounds = " ".join(f"{x[key] / max(y[key], 1e-9):.2f}" for x, y in zip(a, b))
            print(f"  {name:<16} {label:<6} {paired(a, b, key):.2f}x   (rounds: {rounds})")
    for server in servers:
        if ("echo-16-idle10k", server) in runs and ("echo-16", server) in runs:
            ratio = paired(runs[("echo-16-idle10k", server)], runs[("echo-16", server)], "rts")
            print(f"\n{server} with {IDLE:,} idle sessions: {ratio:.2f}x of its no-idle round trips/s "
                  "(median of back-to-back rounds)")


if __name__ == "__main__":
    main()
