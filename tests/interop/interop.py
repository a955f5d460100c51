#!/usr/bin/env python3
"""Real HTTP clients against eddy's servers: examples/hello_server and tests/interop/echo_server.

    interop.py --hello PATH --echo PATH [--api PATH] CASE

CASE is one of: curl, node, python, wrk, slowloris, c10k, hello_args, hello_sigint, api. Each
case starts the servers it needs on a kernel-chosen loopback port, runs its clients, stops the
servers with SIGTERM (a graceful close that must exit 0; hello_sigint uses SIGINT) and prints
what it measured. Exit status: 0 pass, 1 fail, 77 skipped (a client program is not installed).
"""
import argparse
import http.client
import json
import os
import re
import resource
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

SKIP = 77


class Fail(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Fail(what)


def raise_nofile():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


class Server:
    """A server process; the first line it prints names its port ("port N" or a URL)."""

    def __init__(self, argv):
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        self.first_line = line = self.proc.stdout.readline()
        m = re.search(r"(?:port |://[^/:\s]+:)(\d+)", line)
        if not m:
            self.proc.kill()
            self.proc.wait()
            raise Fail(f"{argv[0]} did not say its port: {line!r}")
        self.port = int(m.group(1))
        self.url = f"http://127.0.0.1:{self.port}"

    def rss_kb(self):
        with open(f"/proc/{self.proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return -1

    def stop(self, sig=signal.SIGTERM):
        """Graceful close; returns what the server printed after its first line."""
        if self.proc.poll() is not None:
            raise Fail(f"{os.path.basename(self.argv[0])} died early: {self.proc.returncode}")
        self.proc.send_signal(sig)
        try:
            out, _ = self.proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise Fail(f"{self.argv[0]} did not close within 15 s of {signal.Signals(sig).name}")
        check(self.proc.returncode == 0,
              f"{os.path.basename(self.argv[0])} exited {self.proc.returncode} (loop not clean?)")
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        if self.proc.poll() is None:
            if exc[0] is None:
                out = self.stop()
                if out.strip():
                    print(f"  server: {out.strip()}")
            else:
                self.proc.kill()
                self.proc.wait()


def need(program):
    if shutil.which(program) is None:
        print(f"SKIP: {program} is not installed")
        sys.exit(SKIP)


def run(argv, timeout=30, **kw):
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kw)


# ---- curl --------------------------------------------------------------------------------

def case_curl(args):
    need("curl")
    with Server([args.hello, "--host", "127.0.0.1", "--port", "0", "--delay-ms", "0"]) as s:
        r = run(["curl", "-sS", "-v", "--max-time", "10", s.url + "/a", s.url + "/b"])
        check(r.returncode == 0, f"curl failed: {r.stderr}")
        check(r.stdout == "Hello World\n" * 2, f"bodies: {r.stdout!r}")
        check("Re-using existing connection" in r.stderr, "curl did not reuse the connection")
        check(r.stderr.count("Connected to") == 1, "curl connected more than once")
        print("  keep-alive: two URLs on one connection")
    with tempfile.TemporaryDirectory() as tmp, Server([args.echo]) as s:
        big = os.path.join(tmp, "big")
        with open(big, "wb") as f:
            f.write(os.urandom(100000))
        r = run(["curl", "-sS", "-v", "--max-time", "10", "-H", "Transfer-Encoding: chunked",
                 "--data-binary", "@" + big, s.url + "/up"])
        check(r.returncode == 0, f"curl failed: {r.stderr}")
        check("> Transfer-Encoding: chunked" in r.stderr, "curl did not send chunked")
        check(r.stdout == "POST /up 100000\n", f"chunked upload: {r.stdout!r}")
        print("  chunked upload of 100000 bytes")
        cont = os.path.join(tmp, "cont")
        with open(cont, "wb") as f:
            f.write(b"c" * 2000)
        # curl normally sends the body anyway after waiting a second for the 100. Told to wait
        # longer than --max-time, it can only succeed if the server sent the 100: no clock
        # reading (curl's own start-up included) decides the case.
        t0 = time.monotonic()
        r = run(["curl", "-sS", "-v", "--max-time", "20", "--expect100-timeout", "60",
                 "-H", "Expect: 100-continue", "--data-binary", "@" + cont, s.url + "/cont"])
        took = time.monotonic() - t0
        check(r.returncode == 0, f"curl failed (no 100 Continue?): {r.stderr}")
        check("< HTTP/1.1 100 Continue" in r.stderr, "no 100 Continue")
        check(r.stdout == "POST /cont 2000\n", f"100-continue upload: {r.stdout!r}")
        print(f"  100-continue with 2000 bytes in {took * 1000:.0f} ms")


# ---- Node's http client ------------------------------------------------------------------

NODE_SCRIPT = r"""
const http = require('http');
const [helloPort, echoPort] = process.argv.slice(1).map(Number);
const agent = new http.Agent({keepAlive: true, maxSockets: 2});
function get(i) {
    return new Promise((resolve, reject) => {
        const req = http.get({host: '127.0.0.1', port: helloPort, path: '/n' + i, agent}, res => {
            let body = '';
            res.setEncoding('utf8');
            res.on('data', d => body += d);
            res.on('end', () => resolve({status: res.statusCode, body, reused: req.reusedSocket,
                                          socket: res.socket}));
        });
        req.on('error', reject);
        req.setTimeout(5000, () => reject(new Error('timeout')));
    });
}
function post() {
    return new Promise((resolve, reject) => {
        const req = http.request({host: '127.0.0.1', port: echoPort, path: '/post',
                                  method: 'POST', agent}, res => {
            let body = '';
            res.on('data', d => body += d);
            res.on('end', () => resolve({status: res.statusCode, body}));
        });
        req.on('error', reject);
        req.write('x'.repeat(1000));   // no length: Node sends it chunked
        req.write('y'.repeat(2345));
        req.end('z');
    });
}
(async () => {
    const first = await Promise.all([0, 1].map(get));
    const rest = [];
    for (let i = 2; i < 10; i++) rest.push(await get(i));
    const all = first.concat(rest);
    const sockets = new Set(all.map(r => r.socket));
    for (const r of all)
        if (r.status !== 200 || r.body !== 'Hello World\n') throw new Error('bad ' + r.status);
    if (sockets.size > 2) throw new Error('keep-alive: ' + sockets.size + ' sockets');
    if (rest.some(r => !r.reusedSocket && !r.reused)) throw new Error('a socket was not reused');
    const p = await post();
    if (p.status !== 200 || p.body !== 'POST /post 3346\n') throw new Error('post: ' + p.body);
    agent.destroy();
    console.log('node: 10 requests on ' + sockets.size + ' sockets, chunked POST ok');
})().catch(e => { console.error(e); process.exit(1); });
"""


def case_node(args):
    need("node")
    with Server([args.hello, "--host", "127.0.0.1", "--port", "0", "--delay-ms", "0"]) as h, Server([args.echo]) as e:
        r = run(["node", "-e", NODE_SCRIPT, str(h.port), str(e.port)])
        check(r.returncode == 0, f"node: {r.stdout}{r.stderr}")
        print("  " + r.stdout.strip())


# ---- Python's http.client ----------------------------------------------------------------

def case_python(args):
    with Server([args.hello, "--host", "127.0.0.1", "--port", "0", "--delay-ms", "0"]) as s:
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        c.request("GET", "/one")
        r = c.getresponse()
        check(r.status == 200 and r.read() == b"Hello World\n", "GET /one")
        check(r.getheader("Content-Length") == "12", "Content-Length")
        check(r.getheader("Date") is not None, "Date")
        sock = c.sock
        c.request("GET", "/two")
        r = c.getresponse()
        check(r.status == 200 and r.read() == b"Hello World\n", "GET /two")
        check(c.sock is sock, "http.client reconnected: keep-alive broken")
        c.request("HEAD", "/three")
        r = c.getresponse()
        check(r.status == 200 and r.read() == b"", "HEAD")
        check(r.getheader("Content-Length") == "12", "HEAD keeps Content-Length")
        c.request("GET", "/four")
        r = c.getresponse()
        check(r.status == 200 and r.read() == b"Hello World\n", "GET after HEAD")
        check(c.sock is sock, "reconnected after HEAD")
        c.close()
        print("  keep-alive GET, GET, HEAD, GET on one connection")
    with Server([args.echo]) as s:
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        c.request("PUT", "/put", body=b"p" * 70000)
        r = c.getresponse()
        check(r.read() == b"PUT /put 70000\n", "PUT with Content-Length")
        c.request("POST", "/gen", body=(b"g" * 10 for _ in range(50)),
                  headers={"Transfer-Encoding": "chunked"}, encode_chunked=True)
        r = c.getresponse()
        check(r.read() == b"POST /gen 500\n", "chunked POST")
        c.close()
        print("  PUT and chunked POST on one connection")


# ---- wrk ----------------------------------------------------------------------------------

def wrk_once(args, delay):
    with Server([args.hello, "--host", "127.0.0.1", "--port", "0", "--delay-ms", str(delay)]) as s:
        r = run(["wrk", "-t2", "-c50", "-d2s", "--timeout", "2s", s.url + "/"], timeout=30)
        check(r.returncode == 0, f"wrk failed: {r.stderr}")
        out = r.stdout
        m = re.search(r"(\d+) requests in", out)
        check(m and int(m.group(1)) > 0, f"wrk made no requests:\n{out}")
        errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)",
                           out)
        check(errors is None or all(int(g) == 0 for g in errors.groups()),
              f"wrk saw socket errors:\n{out}")
        check("Non-2xx" not in out, f"wrk saw non-2xx answers:\n{out}")
        rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
        print(f"  --delay-ms {delay}: {m.group(1)} requests, {rps.group(1)}/s, no errors")


def case_wrk(args):
    if shutil.which("wrk") is None:
        print("SKIP: wrk is not installed (scripts/install-deps.sh bench installs it)")
        sys.exit(SKIP)
    wrk_once(args, 0)
    wrk_once(args, 100)


# ---- slowloris ------------------------------------------------------------------------------

HEADERS_TIMEOUT_S = 3.0
SWEEP_S = 1.0         # the server checks timeouts once a second (EDDY__HTTP_SWEEP_MS)
SCHED_SLACK_S = 3.0   # a loaded 2-core machine (ASan, -j2, other tenants) runs threads late


def case_slowloris(args):
    raise_nofile()
    N = 1000
    head = b"GET / HTTP/1.1\r\nHost: slow\r\nX-Slow: " + b"s" * 64
    with Server([args.echo, "--headers-timeout-ms", str(int(HEADERS_TIMEOUT_S * 1000))]) as s:
        sel = selectors.DefaultSelector()
        conns = []
        for i in range(N):
            # The server's clock for a connection starts when it accepts, so after this t0.
            t0 = time.monotonic()
            sk = socket.create_connection(("127.0.0.1", s.port), timeout=5)
            sk.setblocking(False)
            st = {"sock": sk, "t0": t0, "sent": 0, "got": b"", "t408": None, "eof": False,
                  "t_eof": None}
            conns.append(st)
            sel.register(sk, selectors.EVENT_READ, st)
        normal = []  # (started, finished, ok), monotonic seconds
        stop = threading.Event()

        def normal_client():
            while not stop.is_set():
                t0 = time.monotonic()
                ok = False
                try:
                    c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=10)
                    c.request("GET", "/normal")
                    r = c.getresponse()
                    ok = r.status == 200 and r.read() == b"GET /normal 0\n"
                    c.close()
                except OSError:
                    pass
                normal.append((t0, time.monotonic(), ok))
                stop.wait(0.25)

        t = threading.Thread(target=normal_client)
        t.start()
        start = time.monotonic()
        next_tick = start
        last_eof = None
        try:
            # Until every slow connection is closed and a normal request has been made after
            # that (so the normal client is measured before, during and after the 408s).
            while time.monotonic() - start < 20:
                if last_eof is not None and any(n[0] > last_eof for n in normal):
                    break
                now = time.monotonic()
                if now >= next_tick:  # one byte per connection per second
                    for c in conns:
                        if c["t408"] is None and c["sent"] < len(head):
                            try:
                                c["sock"].send(head[c["sent"]:c["sent"] + 1])
                                c["sent"] += 1
                            except OSError:
                                pass
                    next_tick += 1.0
                for key, _ in sel.select(timeout=max(0.0, min(0.05, next_tick - now))):
                    c = key.data
                    try:
                        data = c["sock"].recv(4096)
                    except ConnectionResetError:
                        data = b""
                    if data:
                        c["got"] += data
                        if c["t408"] is None and b"\r\n\r\n" in c["got"]:
                            c["t408"] = time.monotonic() - c["t0"]
                    else:
                        c["eof"] = True
                        c["t_eof"] = time.monotonic()
                        sel.unregister(c["sock"])
                        c["sock"].close()
                if last_eof is None and all(c["eof"] for c in conns):
                    last_eof = max(c["t_eof"] for c in conns)
        finally:
            stop.set()
            t.join()
        answered = [c for c in conns if c["got"].startswith(b"HTTP/1.1 408 ")]
        closed = [c for c in conns if c["eof"]]
        times = sorted(c["t408"] for c in answered)
        print(f"  {len(answered)}/{N} slow connections got 408 after "
              f"{times[0] if times else 0:.2f}..{times[-1] if times else 0:.2f} s "
              f"({min(c['sent'] for c in conns)}..{max(c['sent'] for c in conns)} bytes sent); "
              f"{len(closed)} closed")
        latencies = [n[1] - n[0] for n in normal]
        mean = sum(latencies) / len(latencies)
        print(f"  normal client meanwhile: {len(latencies)} requests, latency max "
              f"{max(latencies) * 1000:.1f} ms, mean {mean * 1000:.1f} ms")
        for c in conns:
            if not c["eof"]:
                c["sock"].close()
        check(len(answered) == N, f"only {len(answered)} of {N} got 408")
        check(len(closed) == N, f"only {len(closed)} of {N} were closed")
        # Never before the timeout; at the latest one sweep after it, plus scheduling slack.
        check(times[0] >= HEADERS_TIMEOUT_S and
              times[-1] < HEADERS_TIMEOUT_S + SWEEP_S + SCHED_SLACK_S,
              f"408 came at {times[0]:.2f}..{times[-1]:.2f} s")
        check(all(n[2] for n in normal), "a normal request failed")
        last_408 = max(c["t0"] + c["t408"] for c in answered)
        check(any(n[1] < last_408 for n in normal),
              "no normal request was served while the slow connections were open")
        check(any(n[0] > last_eof for n in normal), "no normal request after the 408s")
        # Served promptly, not behind the slow ones: a server that got to normal clients only
        # as the slowloris connections timed out would make them wait for the headers timeout.
        check(max(latencies) < HEADERS_TIMEOUT_S / 2,
              f"a normal request took {max(latencies) * 1000:.0f} ms")


# ---- 10,000 keep-alive connections ----------------------------------------------------------

def case_c10k(args):
    N = 10000
    hard = raise_nofile()
    check(hard >= N + 100, f"RLIMIT_NOFILE hard limit {hard} is below {N + 100}")
    with Server([args.echo, "--keep-alive-timeout-ms", "60000"]) as s:
        rss_idle = s.rss_kb()
        sel = selectors.DefaultSelector()
        conns = []
        served = [0, 0]
        t0 = time.monotonic()

        def send_req(c, rnd):
            c["want"] = f"GET /c{c['i']}/{rnd} 0\n".encode()
            c["buf"] = b""
            c["round"] = rnd
            c["sock"].sendall(f"GET /c{c['i']}/{rnd} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
            sel.modify(c["sock"], selectors.EVENT_READ, c)

        def pump(timeout):
            for key, ev in sel.select(timeout=timeout):
                c = key.data
                if c["state"] == "connecting":
                    err = c["sock"].getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                    check(err == 0, f"connect: {os.strerror(err)}")
                    c["state"] = "open"
                    send_req(c, 0)
                    continue
                data = c["sock"].recv(65536)
                check(data, f"connection {c['i']} closed by the server in round {c['round']}")
                c["buf"] += data
                end = c["buf"].find(b"\r\n\r\n")
                if end >= 0 and c["buf"].endswith(c["want"]):
                    check(c["buf"].startswith(b"HTTP/1.1 200 "), "not 200")
                    check(b"Connection: close" not in c["buf"], "server closes")
                    served[c["round"]] += 1
                    sel.modify(c["sock"], selectors.EVENT_READ, c)
                    c["buf"] = b""
                    c["want"] = None

        # Connect with at most 1000 handshakes in flight (the listen backlog is 4096).
        pending = 0
        for i in range(N):
            sk = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sk.setblocking(False)
            sk.connect_ex(("127.0.0.1", s.port))
            c = {"i": i, "sock": sk, "state": "connecting", "buf": b"", "want": None, "round": 0}
            conns.append(c)
            sel.register(sk, selectors.EVENT_WRITE, c)
            while i + 1 - served[0] > 1000:
                pump(1.0)
                check(time.monotonic() - t0 < 40, "connecting took too long")
        while served[0] < N:
            pump(1.0)
            check(time.monotonic() - t0 < 40, f"round 0: {served[0]} of {N} served")
        t1 = time.monotonic()
        rss_open = s.rss_kb()
        # Every connection is still open: a second request on each.
        for c in conns:
            send_req(c, 1)
        while served[1] < N:
            pump(1.0)
            check(time.monotonic() - t0 < 50, f"round 1: {served[1]} of {N} served")
        t2 = time.monotonic()
        rss_after = s.rss_kb()
        print(f"  {N} connections open at once, each served twice: "
              f"round 0 {t1 - t0:.1f} s, round 1 {t2 - t1:.1f} s")
        print(f"  server VmRSS: {rss_idle} kB idle, {rss_open} kB with {N} keep-alive "
              f"connections ({(rss_open - rss_idle) * 1024 / N:.0f} bytes each), "
              f"{rss_after} kB after round 1")
        for c in conns:
            c["sock"].close()
        out = s.stop()
        m = re.search(r"peak (\d+) connections", out)
        check(m and int(m.group(1)) == N, f"server summary: {out!r}")
        print(f"  server: {out.strip()}")


# ---- hello_server's command line and SIGINT ----------------------------------------------

BAD_HELLO_ARGS = [
    ["--port"],                      # a flag missing its value
    ["--delay-ms", "0", "--port"],
    ["--host"],
    ["--delay-ms"],
    ["--port", "abc"],               # not a number
    ["--port", "3000x"],
    ["--port", ""],
    ["--port", "-1"],                # out of range
    ["--port", "65536"],
    ["--port", "99999999999999999999999"],
    ["--delay-ms", "soon"],
    ["--delay-ms", "-5"],
    ["--delay-ms", "3600001"],
    ["--delay-ms", "1e3"],
    ["--host", "localhost"],         # not an IPv4 address
    ["--verbose"],                   # unknown flag
    ["3000"],
]


def case_hello_args(args):
    for argv in BAD_HELLO_ARGS:
        try:
            r = run([args.hello] + argv, timeout=10)
        except subprocess.TimeoutExpired:
            raise Fail(f"hello_server {argv} started instead of refusing its arguments")
        check(r.returncode == 2, f"hello_server {argv}: exit {r.returncode}, want 2")
        check(r.stdout == "", f"hello_server {argv} printed {r.stdout!r} (did it start?)")
        check("usage:" in r.stderr, f"hello_server {argv}: no usage on stderr: {r.stderr!r}")
        check(r.stderr.splitlines()[0].strip() != "usage:",
              f"hello_server {argv}: the error does not say what is wrong")
    print(f"  {len(BAD_HELLO_ARGS)} bad command lines: usage on stderr, exit 2, no server")
    # The limits themselves are accepted, and the start-up line names host and port.
    with Server([args.hello, "--host", "127.0.0.1", "--port", "0", "--delay-ms", "0"]) as s:
        line = s.first_line.strip()
        check(f"http://127.0.0.1:{s.port}/" in line, f"start-up line: {line!r}")
        c = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        c.request("GET", "/")
        check(c.getresponse().read() == b"Hello World\n", "GET /")
        c.close()
        print(f"  start-up line: {line}")
    with Server([args.hello, "--host", "127.0.0.1", "--port", "0", "--delay-ms", "3600000"]):
        pass


def case_hello_sigint(args):
    with Server([args.hello, "--host", "127.0.0.1", "--port", "0", "--delay-ms", "10"]) as s:
        conns = [http.client.HTTPConnection("127.0.0.1", s.port, timeout=5) for _ in range(2)]
        for i in range(2):
            for c in conns:  # both in flight at once: the summary's peak is 2
                c.request("GET", f"/{i}")
            for c in conns:
                r = c.getresponse()
                check(r.status == 200 and r.read() == b"Hello World\n", "GET")
        # Both connections stay open (idle keep-alive): the graceful close must end them.
        out = s.stop(signal.SIGINT)
        for c in conns:
            c.close()
    check(re.search(r"^served 4 requests, peak 2 connections$", out, re.M),
          f"summary after SIGINT: {out!r}")
    print(f"  SIGINT: exit 0, {out.strip()}")


# ---- api_server: the dashboard fan-out -------------------------------------------------------

def api_get(port, method, path):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    c.request(method, path)
    r = c.getresponse()
    body = r.read()
    c.close()
    return r, body


def check_dashboard(port, user_id):
    r, body = api_get(port, "GET", f"/api/dashboard/{user_id}")
    check(r.status == 200, f"dashboard {user_id}: {r.status} {body!r}")
    check(r.getheader("Content-Type") == "application/json", "dashboard Content-Type")
    d = json.loads(body)
    check(d["user"] == {"id": user_id, "name": f"user-{user_id}"}, f"user source: {d}")
    check([p["id"] for p in d["posts"]] == [f"{user_id}-1", f"{user_id}-2"], f"posts: {d}")
    check(d["notifications"] == {"unread": user_id % 7}, f"notifications (the pool): {d}")
    # The slowest source is a 30 ms timer: the answer waited for all three.
    check(d["elapsed_ms"] >= 30, f"answered after {d['elapsed_ms']} ms, before the 30 ms source")
    return d


def case_api(args):
    check(args.api, "--api PATH is needed for this case")
    with Server([args.api, "--host", "127.0.0.1", "--port", "0"]) as s:
        d = check_dashboard(s.port, 42)
        print(f"  GET /api/dashboard/42: 200, three sources joined in {d['elapsed_ms']} ms")
        # Twenty at once, each with its own answer.
        errors = []

        def one(uid):
            try:
                check_dashboard(s.port, uid)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(f"{uid}: {e}")

        threads = [threading.Thread(target=one, args=(uid,)) for uid in range(100, 120)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        check(not errors, f"concurrent dashboards: {errors}")
        print("  20 concurrent dashboards, each answered with its own user")
        for bad in ["abc", "12a", "-1", "1.5", "9007199254740992", "99999999999999999999999"]:
            r, body = api_get(s.port, "GET", f"/api/dashboard/{bad}")
            check(r.status == 400, f"bad id {bad!r}: {r.status}")
            check("error" in json.loads(body), f"bad id {bad!r}: {body!r}")
        print("  bad ids: 400 with a JSON error")
        for path in ["/api/nope", "/", "/api/dashboard", "/api/dashboard/1/extra"]:
            r, _ = api_get(s.port, "GET", path)
            check(r.status == 404, f"GET {path}: {r.status}")
        print("  unknown paths: 404")
        for method, path in [("POST", "/api/dashboard/42"), ("DELETE", "/api/health"),
                             ("PUT", "/api/dashboard/1")]:
            r, _ = api_get(s.port, method, path)
            check(r.status == 405, f"{method} {path}: {r.status}")
            check(r.getheader("Allow") == "GET", f"{method} {path}: Allow {r.getheader('Allow')}")
        print("  wrong methods: 405 with Allow: GET")
        r, body = api_get(s.port, "GET", "/api/health")
        check(r.status == 200 and json.loads(body) == {"status": "ok"}, "health")
        r, body = api_get(s.port, "HEAD", "/api/health")
        check(r.status == 200 and body == b"", "HEAD health")


CASES = {"curl": case_curl, "node": case_node, "python": case_python, "wrk": case_wrk,
         "slowloris": case_slowloris, "c10k": case_c10k, "hello_args": case_hello_args,
         "hello_sigint": case_hello_sigint, "api": case_api}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--hello", required=True)
    ap.add_argument("--echo", required=True)
    ap.add_argument("--api")
    ap.add_argument("case", choices=sorted(CASES))
    args = ap.parse_args()
    t0 = time.monotonic()
    try:
        CASES[args.case](args)
    except Fail as e:
        print(f"FAIL {args.case}: {e}")
        return 1
    print(f"ok {args.case} ({time.monotonic() - t0:.1f} s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
