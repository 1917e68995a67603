#!/usr/bin/env python3
"""Slow-client attack benchmark: sockhttp against nginx, same machine, same run.

Drives five denial-of-service attacks, one at a time, against the release
examples `static_site` and `echo_api` (their default worker pool unless
--threads is given) and against nginx, with a fresh server process for
every attack so that nothing leaks from one to the next. During each
attack a probe, a normal client, asks for a small resource once a second
(DURATION requests) on a fresh connection each time; a request counts as
answered if a 200 arrives whole within 5 s. Prints a markdown table: how
many probe requests were answered and how fast (nearest-rank percentiles
of the answered ones, why the others were not), and the server's open
file descriptors, threads and RSS (nginx: master and worker together)
before the attack and after it, once the attackers are gone: polled
until descriptors and threads are back at their level from before the
attack, for at most 30 s.

Attacks (slowhttptest opens CONNS/2 connections a second, at least 200,
so that all CONNS are open before the probe starts, 3 s in):
  slowloris   `slowhttptest -H`: CONNS connections each sending a request
              head that never ends, a header line every 10 s
  slow-body   `slowhttptest -B`: CONNS POSTs announcing an 8 KiB body
              and sending a few bytes of it every 10 s
  slow-read   `slowhttptest -X`: CONNS connections each asking for a
              large response three times (pipelined) and reading it
              32 bytes every 5 s through a 512-1024 byte window
  uploads     50 clients each POSTing a `Transfer-Encoding: chunked` body
              that never ends, as fast as the server takes it, reading and
              throwing away whatever the server answers; a client whose
              connection is closed opens a new one
  garbage     the range attack, `slowhttptest -R` (CONNS requests with
              thousands of overlapping byte ranges; it ends once they are
              answered and is started again, to last the attack), plus
              CONNS connections that send nothing, plus 50 that send
              1 KiB of random bytes every 100 ms (half of them any bytes,
              half printable ones with no line end); a connection the
              server closes is opened again

What each server is asked for:
  server       probe                slow-body, uploads  slow-read                 range attack
  static_site  GET /files/hello.txt POST /              /files/big.txt (1 MiB)    /files/big.txt
  echo_api     GET /inspect         POST /echo          /stream?n=100000 (1.6 MB) /
  nginx        GET /files/hello.txt POST /echo          /files/big.txt (1 MiB)    /files/big.txt
Slowloris asks for `/` everywhere. static_site has no /echo, so its
bodies go to `/`, where it answers POST with 405 at once and closes the
connection: slowhttptest then has no connection left to hold and ends
early, which the table notes.

nginx runs with a generated config: stock timeouts (60 s for a request
head, between two reads of a body and between two writes of a response)
and stock body limit (client_max_body_size 1m), one worker process (the
single event loop is the design sockhttp is compared with; a second
worker would only add a second CPU's worth of the same), enough
worker_connections for the attacks, serving the static_site example's
public directory. nginx cannot echo a body, so `/echo` is proxied to a
second nginx server on a unix socket that answers `200 ok`: nginx reads
the whole request body first (proxy_request_buffering, the default),
under its client_body_timeout, as an application behind it would have it
read (past 16 KiB through a temporary file); a body over 1 MiB (every
endless upload) is answered 413 and its connection closed, after which
the client opens a new one.

Usage: python3 benches/attack.py [--duration 60] [--conns 2000] [--only NAME,...]
           [--servers static_site,echo_api,nginx] [--root DIR] [--threads N]
           [--json FILE] [--logs DIR]
--root is the sockhttp checkout whose examples are built and run (default:
the one this script is in), so one script measures an older checkout too.
The table goes to stdout, progress to stderr. The attackers' output goes
to log files in a temporary directory (or --logs DIR, kept).
Needs: slowhttptest, nginx (Debian: apt-get install slowhttptest nginx).
A default run (5 attacks x 3 servers x about 65 s) takes about 17
minutes after the build. Every process it starts is ended by its PID.
"""
import argparse, json, math, multiprocessing, os, random, re, select, selectors, shutil, signal
import socket, subprocess, sys, tempfile, threading, time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True  # no __pycache__ left next to load.py
import load  # noqa: E402  (benches/load.py: sh, free_port, wait_port, stop, raise_nofile)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ATTACKS = ["slowloris", "slow-body", "slow-read", "uploads", "garbage"]
SERVERS = ["static_site", "echo_api", "nginx"]
# Seconds from the start of the attackers to the first probe request.
WARMUP = 3
# How long a probe request may take before it counts as not answered.
PROBE_TIMEOUT = 5
# How long the server has to return to its descriptors and threads from
# before the attack, once the attackers are gone.
RECOVERY = 30
UPLOADERS = 50
GARBAGE_SENDERS = 50

# The paths each server is asked for: the probe's, the body attacks'
# (slow-body, uploads), slow-read's and the range attack's.
PATHS = {
    "static_site": {"probe": "/files/hello.txt", "body": "/", "read": "/files/big.txt",
                    "range": "/files/big.txt"},
    "echo_api": {"probe": "/inspect", "body": "/echo", "read": "/stream?n=100000", "range": "/"},
    "nginx": {"probe": "/files/hello.txt", "body": "/echo", "read": "/files/big.txt",
              "range": "/files/big.txt"},
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


# ---- servers ----------------------------------------------------------------

def build(root, examples):
    args = ["cargo", "build", "--release", "-q"]
    for ex in examples:
        args += ["--example", ex]
    load.sh(*args, cwd=root)


def example_path(root, name):
    # Cargo takes a relative CARGO_TARGET_DIR from where it runs: root.
    target = os.path.join(root, os.environ.get("CARGO_TARGET_DIR") or "target")
    return os.path.join(target, "release", "examples", name)


def start_sockhttp(name, root, threads, logfile):
    """Starts an example on a free port; returns (process, port), the
    port read from the one line it prints."""
    args = [example_path(root, name), "--addr", "127.0.0.1:0"]
    if name == "static_site":
        args += ["--root", os.path.join(root, "examples", "static_site", "public")]
    if threads:
        args += ["--threads", str(threads)]
    with open(logfile, "ab") as err:
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=err)
    try:
        ready, _, _ = select.select([proc.stdout], [], [], 20)
        line = proc.stdout.readline().decode() if ready else ""
        if not line.startswith("listening on http://"):
            raise RuntimeError(f"{name} did not announce its port (got {line!r}); see {logfile}")
        port = int(line.strip().rsplit(":", 1)[1])
        load.wait_port(port, proc)
        return proc, port
    except BaseException:
        load.stop(proc)
        raise


def nginx_conf(prefix, port, public, nofile):
    return f"""
worker_processes 1;
worker_rlimit_nofile {nofile};
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log error;
events {{ worker_connections {max(1024, nofile - 100)}; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    types {{ text/html html; text/css css; text/plain txt; image/x-icon ico; }}
    server {{
        listen unix:{prefix}/sink.sock;
        location / {{ return 200 "ok\\n"; }}
    }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {public};
        location = /echo {{ proxy_pass http://unix:{prefix}/sink.sock; }}
    }}
}}
"""


def start_nginx(prefix, public, nofile, logfile):
    shutil.rmtree(prefix, ignore_errors=True)
    os.makedirs(prefix)
    # nginx's worker runs as an unprivileged user: let it in.
    os.chmod(prefix, 0o755)
    port = load.free_port()
    conf = os.path.join(prefix, "nginx.conf")
    with open(conf, "w") as f:
        f.write(nginx_conf(prefix, port, public, nofile))
    with open(logfile, "ab") as out:
        proc = subprocess.Popen(["nginx", "-p", prefix, "-c", conf], stdout=out, stderr=out)
    try:
        load.wait_port(port, proc)
    except BaseException:
        load.stop(proc)
        raise
    return proc, port


def tree(pid):
    """The process and its children (nginx's master and its worker)."""
    pids = [pid]
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    return pids


def usage(pid):
    """Open descriptors, threads and RSS (KiB) of a server, children included."""
    fds = threads = rss = 0
    for p in tree(pid):
        try:
            fds += len(os.listdir(f"/proc/{p}/fd"))
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("Threads:"):
                        threads += int(line.split()[1])
                    elif line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
        except OSError:
            pass  # a child that just exited
    return {"fds": fds, "threads": threads, "rss_kib": rss}


# ---- the probe ----------------------------------------------------------------

def probe_once(port, path):
    """One GET on a fresh connection. Returns (status or None, seconds,
    what went wrong or None)."""
    start = time.monotonic()
    deadline = start + PROBE_TIMEOUT
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT) as s:
            s.sendall(f"GET {path} HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n".encode())
            data, want = b"", None
            while want is None or len(data) < want:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise socket.timeout()
                s.settimeout(left)
                chunk = s.recv(65536)
                if not chunk:
                    if want is None and b"\r\n\r\n" not in data:
                        return None, time.monotonic() - start, "closed"
                    break
                data += chunk
                if want is None and b"\r\n\r\n" in data:
                    head, _, _ = data.partition(b"\r\n\r\n")
                    for line in head.split(b"\r\n")[1:]:
                        name, _, value = line.partition(b":")
                        if name.strip().lower() == b"content-length":
                            want = len(head) + 4 + int(value)
            status = int(data.split(b" ", 2)[1])
            return status, time.monotonic() - start, None if status == 200 else str(status)
    except socket.timeout:
        return None, time.monotonic() - start, "timeout"
    except ConnectionRefusedError:
        return None, time.monotonic() - start, "refused"
    except ConnectionResetError:
        return None, time.monotonic() - start, "reset"
    except (OSError, ValueError, IndexError) as e:
        return None, time.monotonic() - start, type(e).__name__


def probe_series(port, path, count, tick):
    """`count` probe requests, one a second, each on its own thread (a slow
    answer does not delay the next request), calling tick() after each
    start; returns their results."""
    results = [None] * count
    threads = []
    t0 = time.monotonic()
    for i in range(count):
        time.sleep(max(0.0, t0 + i - time.monotonic()))
        t = threading.Thread(target=lambda i=i: results.__setitem__(i, probe_once(port, path)))
        t.start()
        threads.append(t)
        tick()
    for t in threads:
        t.join()
    return results


# ---- attackers -----------------------------------------------------------------

class Child:
    """A forked attacker process, with the part of Popen's interface that
    load.stop uses."""

    def __init__(self, target, *args):
        self.proc = multiprocessing.get_context("fork").Process(target=target, args=args, daemon=True)
        self.proc.start()
        self.pid = self.proc.pid

    @property
    def returncode(self):
        return self.proc.exitcode

    def poll(self):
        return self.proc.exitcode

    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def wait(self, timeout=None):
        self.proc.join(timeout)
        if self.proc.exitcode is None:
            raise subprocess.TimeoutExpired("attacker", timeout)
        return self.proc.exitcode

    def kill(self):
        self.proc.kill()

    def stop(self):
        stop_attacker(self)


def client_main(run, logfile, *args):
    """Body of an attacker child: runs `run` until SIGINT or SIGTERM, then
    appends what it did to `logfile`."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    stats = {}
    try:
        run(stats, *args)
    finally:
        with open(logfile, "a") as f:
            f.write(json.dumps(stats) + "\n")


class Slot:
    """One attacker connection, opened again when the server closes it.
    `feed(slot, now)` gives the next bytes to send (or None); an eager
    slot sends whenever its socket takes bytes, any other is fed once per
    loop turn."""

    def __init__(self, kind, feed=None, eager=False):
        self.kind, self.feed, self.eager = kind, feed, eager
        self.sock, self.fresh, self.pending, self.next_open, self.next_send = None, True, b"", 0.0, 0.0


def count(stats, key, n=1):
    stats[key] = stats.get(key, 0) + n


def client_loop(stats, port, slots, reopen_delay):
    """Keeps every slot connected, sends what the slots feed, reads and
    throws away whatever the server sends, and opens a slot the server
    closed again after reopen_delay seconds."""
    sel = selectors.DefaultSelector()
    addr = ("127.0.0.1", port)

    def close(slot, now):
        sel.unregister(slot.sock)
        slot.sock.close()
        slot.sock, slot.pending = None, b""
        slot.next_open = now + reopen_delay
        count(stats, f"{slot.kind} closed")

    def send(slot, now):
        if not slot.pending:
            slot.pending = memoryview(slot.feed(slot, now) or b"")
        if slot.pending:
            n = slot.sock.send(slot.pending)
            slot.pending = slot.pending[n:]
            count(stats, "bytes sent", n)

    fed = [slot for slot in slots if slot.feed and not slot.eager]
    while True:
        now = time.monotonic()
        for slot in slots:
            if slot.sock is None and now >= slot.next_open:
                slot.sock = socket.socket()
                slot.sock.setblocking(False)
                slot.sock.connect_ex(addr)
                slot.fresh = True
                events = selectors.EVENT_READ | (selectors.EVENT_WRITE if slot.eager else 0)
                sel.register(slot.sock, events, slot)
                count(stats, f"{slot.kind} opened")
        for slot in fed:
            if slot.sock is not None:
                try:
                    send(slot, now)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    close(slot, now)
        for key, ev in sel.select(timeout=0.02):
            slot = key.data
            if slot.sock is None:
                continue
            try:
                if ev & selectors.EVENT_READ:
                    data = slot.sock.recv(1 << 16)
                    if not data:
                        close(slot, now)
                        continue
                    count(stats, "bytes received", len(data))
                if ev & selectors.EVENT_WRITE:
                    send(slot, now)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                close(slot, now)


def uploads(stats, port, path, n):
    """n endless chunked uploads, each sending as fast as the server reads."""
    head = (f"POST {path} HTTP/1.1\r\nHost: attack\r\nContent-Type: application/octet-stream\r\n"
            "Transfer-Encoding: chunked\r\n\r\n").encode()
    block = (b"4000\r\n" + b"x" * 0x4000 + b"\r\n") * 16

    def feed(slot, now):
        if slot.fresh:
            slot.fresh = False
            return head
        return block
    client_loop(stats, port, [Slot("upload", feed, eager=True) for _ in range(n)], 0.05)


def silent_and_garbage(stats, port, silent, garbage):
    """`silent` connections that send nothing, and `garbage` that send
    1 KiB of random bytes every 100 ms: half of them any bytes, half
    printable bytes with no line end (a request line that never ends)."""
    printable = bytes(range(0x21, 0x7f))

    def feed(slot, now):
        if now < slot.next_send:
            return None
        slot.next_send = now + 0.1
        if slot.kind == "garbage (any bytes)":
            return os.urandom(1024)
        return bytes(random.choices(printable, k=1024))
    slots = [Slot("silent") for _ in range(silent)]
    slots += [Slot("garbage (any bytes)" if i % 2 == 0 else "garbage (no line end)", feed)
              for i in range(garbage)]
    client_loop(stats, port, slots, 1.0)


def slowhttptest(mode, conns, url, length, extra):
    rate = max(200, conns // 2)
    return (["slowhttptest", "-c", str(conns), mode] + extra +
            ["-r", str(rate), "-u", url, "-p", "3", "-l", str(length)])


class Slowhttptest:
    """One slowhttptest attacker. Its report (-g -o: a per-second CSV of
    its connections' states) and its stdout (which it writes at its start
    and its end) go to files named after `report`. With `again`, it is
    started again each time it ends: the range attack sends its requests
    and ends once they are answered, and is repeated to last the attack."""

    def __init__(self, cmd, report, again):
        self.cmd, self.report, self.again = cmd + ["-g", "-o", report], report, again
        self.rounds, self.ended, self.proc = 0, None, None
        self.start()

    def start(self):
        with open(self.report + ".log", "ab") as out:
            self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
        self.rounds += 1

    def tick(self):
        """Starts it again if it ended and should not have; else notes why
        it ended."""
        if self.proc.poll() is None or self.ended:
            return
        if self.again:
            self.start()
        else:
            self.ended = self.exit_status()

    def exit_status(self):
        """The reason it gave for ending, from the last 'Exit status:' line."""
        try:
            with open(self.report + ".log", encoding="utf-8", errors="replace") as f:
                text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", f.read())
            return re.findall(r"Exit status:\s*(.*)", text)[-1].strip()
        except (OSError, IndexError):
            return f"exit code {self.proc.returncode}"

    def stop(self):
        stop_attacker(self.proc)

    def summary(self):
        s = {"rounds": self.rounds, "exit": self.exit_status()}
        s.update(read_csv(self.report) or {})
        return s


def read_csv(prefix):
    """The most connections slowhttptest held open at once and the most it
    still had pending (connecting), from its per-second CSV report."""
    try:
        with open(prefix + ".csv") as f:
            rows = [line.strip().split(",") for line in f][1:]
        return {"connected_max": max(int(r[3]) for r in rows), "pending_max": max(int(r[2]) for r in rows)}
    except (OSError, ValueError, IndexError):
        return None


def attack_plan(attack, server, port, conns, length):
    """The attackers of one attack: slowhttptest command lines, and forked
    Python clients as (what they do, function, arguments)."""
    base = f"http://127.0.0.1:{port}"
    paths = PATHS[server]
    if attack == "slowloris":
        return [slowhttptest("-H", conns, base + "/", length,
                             ["-i", "10", "-t", "GET", "-x", "24"])], []
    if attack == "slow-body":
        return [slowhttptest("-B", conns, base + paths["body"], length,
                             ["-i", "10", "-s", "8192", "-t", "POST", "-x", "10"])], []
    if attack == "slow-read":
        return [slowhttptest("-X", conns, base + paths["read"], length,
                             ["-w", "512", "-y", "1024", "-n", "5", "-z", "32", "-k", "3"])], []
    if attack == "uploads":
        return [], [(f"{UPLOADERS} endless chunked uploads to POST {paths['body']}",
                     uploads, (port, paths["body"], UPLOADERS))]
    if attack == "garbage":
        return ([slowhttptest("-R", conns, base + paths["range"], length, ["-a", "10", "-b", "3000"])],
                [(f"{conns} silent connections, {GARBAGE_SENDERS} sending random bytes",
                  silent_and_garbage, (port, conns, GARBAGE_SENDERS))])
    raise ValueError(attack)


def stop_attacker(proc):
    """SIGINT first: slowhttptest then ends the test and writes its report
    (on SIGTERM it dies without one); then load.stop's SIGTERM, and
    SIGKILL, if that did not do."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    load.stop(proc)


def start_server(server, args, tmp, logfile):
    if server == "nginx":
        public = os.path.join(args.root, "examples", "static_site", "public")
        return start_nginx(os.path.join(tmp, "nginx"), public, args.nofile, logfile)
    return start_sockhttp(server, args.root, args.threads, logfile)


def recover(proc, before):
    """Polls the server until its descriptors and threads are back at
    their level from before the attack, or RECOVERY seconds pass; returns
    (usage, seconds, back)."""
    t0 = time.monotonic()
    while True:
        now = usage(proc.pid)
        back = now["fds"] <= before["fds"] and now["threads"] <= before["threads"]
        if back or time.monotonic() - t0 >= RECOVERY or proc.poll() is not None:
            return now, time.monotonic() - t0, back
        time.sleep(0.25)


def run_one(attack, server, args, tmp):
    """One attack against a fresh server; returns the record of the run."""
    logdir = args.logs
    tag = f"{attack}-{server}"
    proc, port = start_server(server, args, tmp, os.path.join(logdir, f"{tag}.server.log"))
    attackers = []
    length = WARMUP + args.duration + PROBE_TIMEOUT + 5
    cmds, clients = attack_plan(attack, server, port, args.conns, length)
    rec = {"attack": attack, "server": server, "commands": [" ".join(c) for c in cmds],
           "clients": [what for what, _, _ in clients]}
    try:
        path = PATHS[server]["probe"]
        status, _, err = probe_once(port, path)  # warm up, and check the probe works
        if status != 200:
            raise RuntimeError(f"{server}: GET {path} before the attack failed: {err}")
        time.sleep(0.5)
        rec["before"] = usage(proc.pid)
        for cmd in cmds:
            again = "-R" in cmd
            attackers.append(Slowhttptest(cmd, os.path.join(logdir, f"{tag}.slowhttptest"), again))
        client_log = os.path.join(logdir, f"{tag}.clients.log")
        for _, fn, fargs in clients:
            attackers.append(Child(client_main, fn, client_log, *fargs))

        def tick():
            for a in attackers:
                if isinstance(a, Slowhttptest):
                    a.tick()
        time.sleep(WARMUP)
        tick()
        results = probe_series(port, path, args.duration, tick)
        tick()
        rec["ended_early"] = [f"slowhttptest ended early: {a.ended}" for a in attackers
                              if isinstance(a, Slowhttptest) and a.ended]
        rec["ended_early"] += [f"clients exited early ({a.returncode})" for a in attackers
                               if isinstance(a, Child) and a.poll() is not None]
        for a in attackers:
            a.stop()
        rec["slowhttptest"] = [a.summary() for a in attackers if isinstance(a, Slowhttptest)]
        if rec["slowhttptest"]:
            log(f"  slowhttptest: {rec['slowhttptest']}")
        if clients:
            with open(client_log) as f:
                rec["client_stats"] = [json.loads(line) for line in f]
            log(f"  clients: {rec['client_stats']}")
        rec["server_exited"] = proc.poll()
        rec["after"], rec["recovery_s"], rec["recovered"] = recover(proc, rec["before"])
        rec["probes"] = [{"status": st, "ms": sec * 1000, "error": e} for st, sec, e in results]
        return rec
    finally:
        for a in attackers:
            a.stop()
        load.stop(proc)


def percentile(sorted_ms, p):
    """Nearest-rank percentile."""
    return sorted_ms[max(0, math.ceil(p / 100 * len(sorted_ms)) - 1)]


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def row(rec):
    probes = rec["probes"]
    ok = sorted(p["ms"] for p in probes if p["status"] == 200)
    answered = f"{len(ok)} of {len(probes)}"
    failures = {}
    for p in probes:
        if p["status"] != 200:
            failures[p["error"]] = failures.get(p["error"], 0) + 1
    if failures:
        answered += " (" + ", ".join(f"{k} {v}" for k, v in sorted(failures.items())) + ")"
    lat = (f"{percentile(ok, 50):.1f} / {percentile(ok, 99):.1f} / {ok[-1]:.1f}" if ok else "—")
    b, a = rec["before"], rec["after"]
    res = f"{b['fds']}/{b['threads']}/{mib(b['rss_kib'])} → {a['fds']}/{a['threads']}/{mib(a['rss_kib'])}"
    if rec["server_exited"] is not None:
        res += f", server exited ({rec['server_exited']})"
    elif rec["recovered"]:
        res += f" in {rec['recovery_s']:.1f} s"
    else:
        res += f", not back after {RECOVERY} s"
    for note in rec["ended_early"]:
        res += f"; {note}"
    return f"| {rec['attack']} | {rec['server']} | {answered} | {lat} | {res} |"


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--duration", type=int, default=60, help="seconds of probing per attack (60)")
    ap.add_argument("--conns", type=int, default=2000, help="attacker connections (2000)")
    ap.add_argument("--only", default="", help="attacks to run: " + ",".join(ATTACKS))
    ap.add_argument("--servers", default=",".join(SERVERS), help="servers to attack (all three)")
    ap.add_argument("--root", default=ROOT, help="the sockhttp checkout to build and run")
    ap.add_argument("--threads", type=int, help="sockhttp's worker pool (default: the examples' own)")
    ap.add_argument("--json", help="also write every run, probe by probe, to this file")
    ap.add_argument("--logs", help="keep the servers' and attackers' logs in this directory")
    args = ap.parse_args()
    # A SIGTERM, like Ctrl-C, unwinds through the `finally`s that stop
    # every process started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    args.root = os.path.abspath(args.root)
    attacks = [a for a in args.only.split(",") if a] or ATTACKS
    servers = [s for s in args.servers.split(",") if s]
    for name in attacks:
        if name not in ATTACKS:
            ap.error(f"unknown attack {name!r}; the attacks are {','.join(ATTACKS)}")
    for name in servers:
        if name not in SERVERS:
            ap.error(f"unknown server {name!r}; the servers are {','.join(SERVERS)}")
    if args.duration < 1 or args.conns < 1:
        ap.error("--duration and --conns must be positive")
    tools = ["slowhttptest"] + (["nginx"] if "nginx" in servers else [])
    for tool in tools:
        if not shutil.which(tool):
            sys.exit(f"{tool} not found (Debian: apt-get install slowhttptest nginx)")
    args.nofile = load.raise_nofile()
    # The garbage attack has the most connections open at once: the range
    # attack's, the silent ones and the garbage senders, on both ends.
    need = 2 * args.conns + GARBAGE_SENDERS + 100
    if need > args.nofile:
        log(f"warning: the open-file limit is {args.nofile}; the garbage attack needs about {need} "
            "descriptors in the server: some of its connections will be refused for want of them")
    sockhttp = [s for s in servers if s != "nginx"]
    if sockhttp:
        log(f"building {', '.join(sockhttp)} in {args.root}")
        build(args.root, sockhttp)
    records = []
    with tempfile.TemporaryDirectory(prefix="sockhttp-attack-") as tmp:
        os.chmod(tmp, 0o755)
        if args.logs:
            os.makedirs(args.logs, exist_ok=True)
            args.logs = os.path.abspath(args.logs)
        else:
            args.logs = os.path.join(tmp, "logs")
            os.makedirs(args.logs)
        pool = f"--threads {args.threads}" if args.threads else "the examples' default pool"
        print(f"{args.conns} attacker connections, {args.duration} s of probing per attack "
              f"(one GET a second, {PROBE_TIMEOUT} s timeout); sockhttp: {pool}; nginx: one worker\n")
        print("| attack | server | probe answered | probe p50 / p99 / max ms | "
              "fds/threads/RSS before → after |")
        print("|---|---|---|---|---|", flush=True)
        for attack in attacks:
            for server in servers:
                log(f"{attack} against {server} ...")
                rec = run_one(attack, server, args, tmp)
                records.append(rec)
                print(row(rec), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"duration": args.duration, "conns": args.conns, "threads": args.threads,
                       "root": args.root, "runs": records}, f, indent=1)


if __name__ == "__main__":
    main()
