"""Latency of agent-tool lookups and of the real-time endpoints, on a trained home.

python benchmarks/bench_serving.py --home H [--seconds 20] [--clients 4] [--json]

``H`` is a home after ``health-monitor demo`` (e.g. ``bench_demo.py --scale medium --keep``).

1. Lookups: every tool of every toolkit is called in this process with valid arguments (a
   random entity each call), after one warm-up call; p50/p99 per tool and overall.
2. Endpoints: ``health-monitor serve`` runs in its own process on a free loopback port; this
   process (the second one) drives every installed endpoint from ``--clients`` threads with
   keep-alive connections for ``--seconds``; p50/p99 per endpoint, overall, and throughput.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000.0
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def bench_lookups(home: str, calls: int, rng: random.Random) -> dict:
    from health_monitor.agents import get_toolkit, make_context
    from health_monitor.specs import DOMAINS

    context = make_context(home)
    result, everything = {}, []
    for domain in DOMAINS:
        for spec in [o.spec for o in context.champions.host.tools.values() if o.spec.domain == domain]:
            tool = next(t for t in get_toolkit(domain, context=context) if t.name == spec.name)
            entities = context.distinct(spec.reads[0], spec.entity, limit=10_000) if spec.entity else [None]

            def args(entities=entities, column=spec.entity):
                entity = rng.choice(entities)
                return {column: entity} if entity is not None else {}

            tool.invoke(args())  # warm: loads the table and builds its index once
            samples = []
            for _ in range(calls):
                a = args()
                start = time.perf_counter()
                out = tool.invoke(a)
                samples.append(time.perf_counter() - start)
                if not out.startswith("{"):
                    raise RuntimeError(f"{spec.name}({a}) failed: {out}")
            result[spec.name] = percentiles(samples)
            everything += samples
    result["all tools"] = percentiles(everything)
    return result


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_bodies(home: str, rng: random.Random) -> dict[str, list[dict]]:
    """Valid request bodies per endpoint: entities that have features, from the online store."""
    from health_monitor.agents import make_context
    from health_monitor.serve import ScoringService

    context = make_context(home)
    service = ScoringService(context.champions)
    bodies = {}
    for path, model in service.routes.items():
        if path.startswith("/models/"):
            continue
        champion = service.champions.get(model)
        fields = service.fields(champion)
        rows = context.query(model, limit=100_000)
        sample = rng.sample(rows, min(200, len(rows)))
        bodies[path] = [{f: str(r[f]) for f in fields} for r in sample if all(f in r for f in fields)]
    return bodies


def bench_endpoints(home: str, seconds: float, clients: int, rng: random.Random) -> dict:
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "health_monitor.cli", "serve", "--home", home, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while True:
            line = server.stdout.readline()
            if "serving" in line:
                break
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start: {line}")
        bodies = request_bodies(home, rng)
        samples: dict[str, list[float]] = {p: [] for p in bodies}
        errors: list[str] = []
        stop = time.monotonic() + seconds

        def client(seed: int) -> None:
            local = random.Random(seed)
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            paths = [p for p in bodies if bodies[p]]
            while time.monotonic() < stop:
                path = local.choice(paths)
                data = json.dumps(local.choice(bodies[path]))
                start = time.perf_counter()
                conn.request("POST", path, body=data, headers={"Content-Type": "application/json"})
                response = conn.getresponse()
                payload = response.read()
                elapsed = time.perf_counter() - start
                if response.status != 200:
                    errors.append(f"{path} {response.status} {payload[:200]!r}")
                else:
                    samples[path].append(elapsed)
            conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        total = sum(len(s) for s in samples.values())
        out = {p: percentiles(s) for p, s in samples.items() if s}
        out["all endpoints"] = percentiles([x for s in samples.values() for x in s])
        out["throughput_rps"] = round(total / seconds, 1)
        out["errors"] = len(errors)
        if errors:
            out["first_errors"] = errors[:3]
        return out
    finally:
        server.terminate()
        server.wait(timeout=30)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a home after `health-monitor demo`")
    parser.add_argument("--calls", type=int, default=300, help="lookups per tool (default 300)")
    parser.add_argument("--seconds", type=float, default=20.0, help="endpoint load duration (default 20)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not Path(args.home).exists():
        parser.error(f"--home {args.home} does not exist")
    rng = random.Random(0)
    result = {
        "lookups": bench_lookups(args.home, args.calls, rng),
        "endpoints": bench_endpoints(args.home, args.seconds, args.clients, rng),
        "clients": args.clients,
        "seconds": args.seconds,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for section in ("lookups", "endpoints"):
        print(section)
        for name, stats in result[section].items():
            if isinstance(stats, dict):
                print(
                    f"  {name:<34} n={stats['n']:<6} p50={stats['p50_ms']:.2f} ms  p99={stats['p99_ms']:.2f} ms"
                )
            else:
                print(f"  {name:<34} {stats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
