"""Many concurrent clients against ``health-monitor serve``: resets, 503s and latency.

python benchmarks/bench_serve_clients.py --home H [--clients 200] [--requests 25] [--json]

``H`` is a trained home (e.g. after ``health-monitor demo``). ``serve`` runs in its own process
on a free loopback port (default options: 503 past 256 open connections, backlog 512).
This process starts ``--clients`` threads at once, twice:

1. **keep-alive**: each thread opens one connection and sends ``--requests`` requests on it,
   reconnecting when the server closes it (after a 503, or when idle for its timeout);
2. **a connection per request**: each thread connects, sends one request and closes,
   ``--requests`` times, a burst of connects the listen backlog must absorb.

Each request is a valid body for a random document endpoint. Reported per mode: answers by
status, connection failures by kind (a reset, a connection closed without an answer, a
refused connect, a timeout), p50/p99/max latency of the answered requests (a 503 is answered:
it is the server saying "retry"), and requests per second. The clients are Python threads in
one process: on a small machine they compete with the server for the cores, so the latencies
are upper bounds.
"""

from __future__ import annotations

import argparse
import collections
import gc
import http.client
import json
import random
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_serving import free_port, percentiles, request_bodies, start_server  # noqa: E402


def failure_kind(exc: Exception) -> str:
    if isinstance(exc, ConnectionResetError):
        return "reset"
    if isinstance(exc, http.client.RemoteDisconnected | BrokenPipeError):
        return "closed without an answer"
    if isinstance(exc, ConnectionRefusedError):
        return "connect refused"
    if isinstance(exc, TimeoutError):
        return "timeout"
    return type(exc).__name__


def run(port: int, bodies: dict[str, list[dict]], clients: int, requests: int, keep_alive: bool) -> dict:
    statuses: collections.Counter = collections.Counter()
    failures: collections.Counter = collections.Counter()
    latencies: list[float] = []
    lock = threading.Lock()
    barrier = threading.Barrier(clients)
    paths = sorted(p for p in bodies if bodies[p])

    def client(seed: int) -> None:
        rng = random.Random(seed)
        mine, lost, answered = [], collections.Counter(), collections.Counter()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        barrier.wait()
        for _ in range(requests):
            path = rng.choice(paths)
            data = json.dumps(rng.choice(bodies[path]))
            start = time.perf_counter()
            try:
                conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                response.read()
            except Exception as exc:
                lost[failure_kind(exc)] += 1
                conn.close()
                continue
            mine.append(time.perf_counter() - start)
            answered[response.status] += 1
            if not keep_alive:
                conn.close()
        conn.close()
        with lock:
            latencies.extend(mine)
            failures.update(lost)
            statuses.update(answered)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    return {
        "requests": clients * requests,
        "answered": {str(k): v for k, v in sorted(statuses.items())},
        "failed": dict(failures),
        "latency": percentiles(latencies) if latencies else None,
        "requests_per_s": round(sum(statuses.values()) / elapsed, 1),
        "seconds": round(elapsed, 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a trained home")
    parser.add_argument("--clients", type=int, default=200, help="concurrent client threads (default 200)")
    parser.add_argument("--requests", type=int, default=25, help="requests per client and mode (default 25)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not Path(args.home).exists():
        parser.error(f"--home {args.home} does not exist")
    port = free_port()
    server = start_server(args.home, port)
    try:
        bodies = request_bodies(args.home, random.Random(0))
        gc.collect()
        gc.freeze()
        result = {
            "clients": args.clients,
            "keep-alive": run(port, bodies, args.clients, args.requests, keep_alive=True),
            "a connection per request": run(port, bodies, args.clients, args.requests, keep_alive=False),
        }
    finally:
        server.terminate()
        server.wait(timeout=30)
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for mode in ("keep-alive", "a connection per request"):
        r = result[mode]
        lat = r["latency"] or {}
        print(
            f"{mode}: {r['requests']} requests from {args.clients} clients in {r['seconds']} s "
            f"({r['requests_per_s']} answered/s); answered {r['answered']}; failed {r['failed'] or 0}; "
            f"p50 {lat.get('p50_ms')} ms, p99 {lat.get('p99_ms')} ms, max {lat.get('max_ms')} ms"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
