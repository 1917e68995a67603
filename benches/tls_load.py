#!/usr/bin/env python3
"""HTTPS load benchmark: sockhttp against nginx, same machine, same run.

The TLS counterpart of benches/load.py, run the same way: the release
`static_site` example built with `--features tls` and nginx (one worker
process) serve the same files with the same certificate, each server
pinned to CPU 0 and wrk to CPU 1 with taskset; every scenario runs REPEAT
rounds, sockhttp and nginx back to back in each (which goes first
alternates), each run after a second of unmeasured warm-up; figures are
medians, and ratios the median of the per-round ratios, so that the slow
drifts of a shared machine cancel out.

The certificate is made at run time with `openssl`: EC P-256,
self-signed, for localhost and 127.0.0.1. nginx gets the same files and
`ssl_protocols TLSv1.2 TLSv1.3; ssl_session_cache off;
ssl_session_tickets off;` with load.py's keep-alive settings. HTTP/1.1
only (wrk offers no ALPN). Without kTLS (not configured here) nginx, like
sockhttp, cannot use sendfile under TLS: both read, encrypt and write.

Scenarios:
  handshakes     full TLS handshakes per second: every request on a new
                 connection (wrk sends `Connection: close`), for a 5-byte
                 file, 16 connections
  tls-hello-16   the same 5-byte file over 16 kept-alive TLS connections
  tls-1m-16      a 1 MiB file over 16 kept-alive TLS connections (MB/s)
  1m-16          the same file over plain HTTP in the same rounds
                 (sendfile for both), so that the ratios say what the
                 read-encrypt-write path costs each server

sockhttp's hello-world example (`hello`, load.py's) is the README's
ten-line server and takes no TLS flags, so the small response here is a
5-byte file served by `static_site`, and by nginx from the same directory.

Full handshakes: wrk keeps one OpenSSL object per connection slot and
offers to resume the previous session on every reconnection; sockhttp
(rustls's defaults) accepts, nginx as configured here does not. wrk
therefore runs with benches/no_resume.c preloaded (compiled at run time
with `cc`), which drops the session before each handshake and counts the
handshakes wrk completes and how many the server resumed. The script
checks, before measuring, that each server closes the connection after
answering a `Connection: close` request, and the table shows wrk's
handshakes against its requests (equal, give or take the ones in flight
at the end, when every request had a connection of its own) and the
resumed ones (0).

Columns: requests/s, MB/s, p50 and p99 latency, errors (socket errors
and non-2xx answers), the server's CPU time per request (user + system,
all its threads and processes, from /proc: what a request costs the
server even when wrk is the bottleneck), the server's and wrk's CPU use
during the run (100% is the whole of its CPU: which of the two is the
bottleneck), and wrk's requests, TLS handshakes and resumed handshakes.

Usage: python3 benches/tls_load.py [--duration 10] [--repeat 3] [--only NAME,...]
Needs: wrk, nginx, taskset, openssl, cc (Debian: apt-get install wrk nginx
util-linux openssl gcc). Every process it starts is ended by its PID.
"""
import argparse, os, re, resource, shutil, ssl, socket, statistics, subprocess, sys, tempfile

# load.py's helpers, without leaving a __pycache__ in benches/.
sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import (LOAD_CPU, ROOT, SERVER_CPU, THREADS, WARMUP, free_port, parse_wrk,  # noqa: E402
                  raise_nofile, sh, stop, target_dir, wait_port)

CLK_TCK = os.sysconf("SC_CLK_TCK")

SCENARIOS = [
    # name, TLS, path, connections, a new connection per request
    ("handshakes", True, "/hello.txt", 16, True),
    ("tls-hello-16", True, "/hello.txt", 16, False),
    ("tls-1m-16", True, "/1m.bin", 16, False),
    ("1m-16", False, "/1m.bin", 16, False),
]
# Scenarios run round-robin with each other: the 1 MiB file over TLS and
# over plain HTTP in the same rounds.
GROUPS = [["handshakes"], ["tls-hello-16"], ["tls-1m-16", "1m-16"]]


def make_certificate(tmp):
    """An EC P-256 self-signed certificate for localhost and 127.0.0.1."""
    cert, key = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
    sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
       "-nodes", "-days", "2", "-subj", "/CN=localhost",
       "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
       "-keyout", key, "-out", cert, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return cert, key


def build_shim(tmp):
    out = os.path.join(tmp, "no_resume.so")
    sh("cc", "-O2", "-shared", "-fPIC", "-o", out, os.path.join(ROOT, "benches", "no_resume.c"), "-ldl")
    return out


def cpu_seconds(pid):
    """User + system time of a process and its children (nginx's master
    and worker); every thread of a process counts in its own line."""
    def one(p):
        with open(f"/proc/{p}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    total = one(pid)
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    for child in out.split():
        try:
            total += one(int(child))
        except FileNotFoundError:
            pass
    return total


def wrk(url, conns, duration, close, shim, counts):
    cmd = ["taskset", "-c", LOAD_CPU, "wrk", "--latency", f"-t{min(conns, 2)}", f"-c{conns}",
           f"-d{duration}s", "--timeout", "5s"]
    if close:
        cmd += ["-H", "Connection: close"]
    env = dict(os.environ, LD_PRELOAD=shim, TLS_LOAD_COUNTS=counts)
    if os.path.exists(counts):
        os.remove(counts)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True, env=env).stdout
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    r = parse_wrk(out)
    # wrk's own CPU time (taskset execs it): near 100% of a run, wrk is
    # the bottleneck.
    r["wrk_cpu"] = 100 * ((after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)) / duration
    r["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    r["handshakes"], r["resumed"] = 0, 0
    if os.path.exists(counts):
        with open(counts) as f:
            m = re.match(r"handshakes (\d+) resumed (\d+)", f.read())
        r["handshakes"], r["resumed"] = int(m.group(1)), int(m.group(2))
    return r


def nginx_conf(prefix, port, root, tls):
    listen = f"listen 127.0.0.1:{port} backlog=4096;"
    ssl = ""
    if tls:
        listen = f"listen 127.0.0.1:{port} ssl backlog=4096;"
        ssl = f"""
        ssl_certificate {tls[0]};
        ssl_certificate_key {tls[1]};
        ssl_protocols TLSv1.2 TLSv1.3;
        ssl_session_cache off;
        ssl_session_tickets off;"""
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
        {listen}{ssl}
        location / {{ root {root}; }}
    }}
}}
"""


def start(server, root, prefix, port, tls):
    """Starts `server` on `port`, over TLS with the (cert, key) pair `tls`
    or plain if it is None."""
    if server == "nginx":
        conf = os.path.join(prefix, "nginx.conf")
        with open(conf, "w") as f:
            f.write(nginx_conf(prefix, port, root, tls))
        args = ["nginx", "-p", prefix, "-c", conf]
    else:
        exe = os.path.join(target_dir(ROOT), "release", "examples", "static_site")
        args = [exe, "--addr", f"127.0.0.1:{port}", "--root", root, "--no-listing",
                "--threads", str(THREADS)]
        if tls:
            args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU] + args,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def closes_after_answer(port, path):
    """Sends one `Connection: close` request over TLS; true if the server
    answers 200 and then closes the connection (end of stream within 5 s)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            data = b""
            try:
                while chunk := s.recv(65536):
                    data += chunk
            except (socket.timeout, ssl.SSLError):
                return False
    return data.startswith(b"HTTP/1.1 200 ") and b"\r\nconnection: close\r\n" in data.lower()


def negotiated(port):
    """What `openssl s_client` (OpenSSL's defaults, as wrk's) negotiates:
    protocol, cipher suite and key exchange group."""
    out = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                          "-servername", "localhost"],
                         input="", capture_output=True, text=True, timeout=20).stdout
    proto = re.search(r"^New, (\S+), Cipher is (\S+)", out, re.M)
    group = re.search(r"^(?:Server|Peer) Temp Key: (.+)$", out, re.M)
    return f"{proto.group(1)} {proto.group(2)}, {group.group(1) if group else '?'}" if proto else "?"


def check(servers, root, prefix, tls):
    """Before measuring: each server closes after a `Connection: close`
    answer, and what it negotiates with OpenSSL's defaults."""
    for server in servers:
        port = free_port()
        proc = start(server, root, prefix, port, tls)
        try:
            if not closes_after_answer(port, "/hello.txt"):
                sys.exit(f"{server} does not close the connection after a Connection: close answer")
            print(f"{server:<9} closes after `Connection: close`; negotiates {negotiated(port)}")
        finally:
            stop(proc)


def run_once(server, name, use_tls, path, conns, close, args, root, prefix, tls, shim, counts):
    """One run of one scenario against one server."""
    port = free_port()
    proc = start(server, root, prefix, port, tls if use_tls else None)
    try:
        url = f"{'https' if use_tls else 'http'}://127.0.0.1:{port}{path}"
        wrk(url, conns, WARMUP, close, shim, counts)
        before = cpu_seconds(proc.pid)
        r = wrk(url, conns, args.duration, close, shim, counts)
        used = cpu_seconds(proc.pid) - before
        r["cpu_us"] = used * 1e6 / max(r["requests"], 1)
        r["srv_cpu"] = 100 * used / args.duration
        return r
    finally:
        stop(proc)


KEYS = ("rps", "mbs", "p50", "p99", "cpu_us", "srv_cpu", "wrk_cpu", "requests", "handshakes")


def medians(runs):
    med = {k: statistics.median(r[k] for r in runs) for k in KEYS}
    med["errors"] = sum(r["errors"] for r in runs)
    med["resumed"] = sum(r["resumed"] for r in runs)
    return med


def paired(a_runs, b_runs, key):
    """The median of the ratios of runs made in the same rounds."""
    return statistics.median(a[key] / max(b[key], 1e-9) for a, b in zip(a_runs, b_runs))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="")
    args = ap.parse_args()
    servers = ["sockhttp", "nginx"]
    for tool in ("wrk", "nginx", "taskset", "openssl", "cc"):
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (Debian: apt-get install wrk nginx util-linux openssl gcc)")
    raise_nofile()
    env = dict(os.environ, CARGO_TARGET_DIR=target_dir(ROOT))
    sh("cargo", "build", "--release", "-q", "--features", "tls", "--example", "static_site",
       cwd=ROOT, env=env)
    only = set(filter(None, args.only.split(",")))
    with tempfile.TemporaryDirectory(prefix="sockhttp-tls-bench-") as tmp:
        root = os.path.join(tmp, "www")
        prefix = os.path.join(tmp, "nginx")
        os.makedirs(root)
        os.makedirs(prefix)
        # nginx's workers run as an unprivileged user: let them read.
        os.chmod(tmp, 0o755)
        os.chmod(root, 0o755)
        with open(os.path.join(root, "hello.txt"), "wb") as f:
            f.write(b"hello")
        with open(os.path.join(root, "1m.bin"), "wb") as f:
            f.write(os.urandom(1 << 20))
        for name in ("hello.txt", "1m.bin"):
            os.chmod(os.path.join(root, name), 0o644)
        tls = make_certificate(tmp)
        shim = build_shim(tmp)
        counts = os.path.join(tmp, "counts")
        print(f"wrk on CPU {LOAD_CPU}, servers on CPU {SERVER_CPU}; {args.duration}s x {args.repeat} runs, medians")
        print(f"sockhttp: static_site, {THREADS} workers; nginx: one worker process")
        check(servers, root, prefix, tls)
        print()
        hdr = (f"{'scenario':<13} {'server':<9} {'req/s':>9} {'MB/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
               f"{'errors':>6} {'cpu us/req':>10} {'srv cpu':>7} {'wrk cpu':>7} {'requests':>9} {'handshakes':>10} "
               f"{'resumed':>7}")
        print(hdr)
        print("-" * len(hdr))
        by_name = {sc[0]: sc for sc in SCENARIOS}
        runs = {}
        for group in GROUPS:
            names = [n for n in group if not only or n in only]
            if not names:
                continue
            for i in range(args.repeat):
                order = servers[i % len(servers):] + servers[:i % len(servers)]
                for n in names:
                    for server in order:
                        r = run_once(server, *by_name[n], args, root, prefix, tls, shim, counts)
                        runs.setdefault((n, server), []).append(r)
            for n in names:
                for server in servers:
                    r = medians(runs[(n, server)])
                    print(f"{n:<13} {server:<9} {r['rps']:>9.0f} {r['mbs']:>8.1f} {r['p50']:>8.3f} "
                          f"{r['p99']:>8.3f} {r['errors']:>6} {r['cpu_us']:>10.1f} {r['srv_cpu']:>6.0f}% {r['wrk_cpu']:>6.0f}% "
                          f"{r['requests']:>9.0f} "
                          f"{r['handshakes']:>10.0f} {r['resumed']:>7}", flush=True)
        print("\nratios (median of the ratios of runs in the same rounds):")
        pairs = [(n, "sockhttp", n, "nginx") for n, *_ in SCENARIOS]
        pairs += [("tls-1m-16", s, "1m-16", s) for s in servers]
        for top_n, top_s, bot_n, bot_s in pairs:
            if (top_n, top_s) not in runs or (bot_n, bot_s) not in runs:
                continue
            a, b = runs[(top_n, top_s)], runs[(bot_n, bot_s)]
            label = f"{top_s} {top_n} / {bot_s} {bot_n}"
            rounds = " ".join(f"{x['rps'] / y['rps']:.2f}" for x, y in zip(a, b))
            print(f"  {label:<38} req/s {paired(a, b, 'rps'):.2f}x   cpu/req {paired(a, b, 'cpu_us'):.2f}x"
                  f"   (rounds: {rounds})")


if __name__ == "__main__":
    main()
