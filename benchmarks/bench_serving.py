"""Latency of agent-tool lookups and of the real-time endpoints, on a trained home.

python benchmarks/bench_serving.py --home H [--seconds 20] [--clients 4] [--json]

``H`` is a home after ``health-monitor demo`` (e.g. ``bench_demo.py --scale medium --keep``).

1. Lookups: every tool of every toolkit is called in this process with valid arguments (a
   random entity each call), after one warm-up call; p50/p99 per tool and overall. The core's
   ``explain_prediction`` (a live occlusion, not a lookup) is timed on its own line.
2. Live scoring: each endpoint's model scores looked-up features in this process: what an
   ``as_of`` request or an entity ``infer`` has not scored costs.
3. Endpoints: ``health-monitor serve`` runs in its own process on a free loopback port (it
   loads the champions and the prediction tables first); this process (the second one) drives every installed
   endpoint from ``--clients`` threads with keep-alive connections for ``--seconds``, a random
   entity of 200 per endpoint each request, a fifth of point-in-time requests with an
   ``as_of`` day; p50/p99 per endpoint, overall, and throughput.
"""

from __future__ import annotations

import argparse
import gc
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

AS_OF_SHARE = 0.2  # share of point-in-time endpoint requests that name an as_of day


def percentiles(samples: list[float]) -> dict[str, float]:
    ms = np.asarray(samples) * 1000.0
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 3),
        "p99_ms": round(float(np.percentile(ms, 99)), 3),
        "max_ms": round(float(ms.max()), 3),
    }


def timed(tool, make_args, calls: int) -> list[float]:
    """Seconds per ``tool.invoke`` over ``calls`` calls, after one warm-up call."""
    tool.invoke(make_args())  # warm: loads the table and builds its indexes once
    samples = []
    for _ in range(calls):
        args = make_args()
        start = time.perf_counter()
        out = tool.invoke(args)
        samples.append(time.perf_counter() - start)
        if not out.startswith(("{", "[")):
            raise RuntimeError(f"{tool.name}({args}) failed: {out}")
    return samples


def bench_lookups(home: str, calls: int, rng: random.Random) -> dict:
    """Every plugin tool and the core's summary and listing tools; explain (a live occlusion
    over every feature, not a lookup) is reported on its own line, outside "all lookups"."""
    from health_monitor.agents import get_toolkit, make_context

    context = make_context(home)
    result, everything = {}, []
    for domain in context.champions.host.domains:
        toolkit = {t.name: t for t in get_toolkit(domain, context=context)}
        for spec in [o.spec for o in context.champions.host.tools.values() if o.spec.domain == domain]:
            entities = context.distinct(spec.reads[0], spec.entity, limit=10_000) if spec.entity else [None]

            def args(entities=entities, column=spec.entity):
                entity = rng.choice(entities)
                return {column: entity} if entity is not None else {}

            result[spec.name] = percentiles(samples := timed(toolkit[spec.name], args, calls))
            everything += samples
    toolkit = {t.name: t for t in get_toolkit("cost", context=context)}
    for name in ("health_summary", "list_models"):
        result[name] = percentiles(samples := timed(toolkit[name], dict, max(1, calls // 10)))
        everything += samples
    result["all lookups"] = percentiles(everything)

    models = sorted(context.champions.host.models)
    rows = {m: context.query(m, limit=100) for m in models}

    def explain_args(model: str | None = None):
        model = model or rng.choice(models)
        spec = context.model(model)
        row = rng.choice(rows[model])
        return {
            "model": model,
            "keys": {k: str(row[k])[:10] if k == spec.time_column else str(row[k]) for k in spec.keys},
        }

    for model in models:  # load every champion, its feature tables and their indexes first
        context.explain(model, explain_args(model)["keys"])
    result["explain_prediction (live)"] = percentiles(
        timed(toolkit["explain_prediction"], explain_args, calls)
    )
    return result


def bench_live_scoring(home: str, calls: int, rng: random.Random) -> dict:
    """A miss: the endpoints' models scored live from looked-up features in this process (what
    an ``as_of`` request or an entity without a stored prediction costs)."""
    from health_monitor.agents import make_context
    from health_monitor.serving.app import ScoringService, body_for

    context = make_context(home)
    service = ScoringService(context.champions)
    out = {}
    for path, model in context.champions.host.endpoints.items():
        fields = service.fields[model]
        rows = context.query(model, limit=100)
        context.champions.score(model, body_for(fields, rows[0]))
        samples = []
        for _ in range(calls):
            row = rng.choice(rows)
            keys = body_for(fields, row)
            start = time.perf_counter()
            context.champions.score(model, keys)
            samples.append(time.perf_counter() - start)
        out[path] = percentiles(samples)
    return out


def rss_gib(pid: int) -> float | None:
    """Resident memory of a process (Linux), in GiB."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    kib = next((int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:")), None)
    return None if kib is None else round(kib / 2**20, 2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request_bodies(home: str, rng: random.Random) -> dict[str, list[dict]]:
    """Valid request bodies per endpoint: entities that have features, from the online store."""
    from health_monitor.agents import make_context
    from health_monitor.serving.app import ScoringService, body_for

    context = make_context(home)
    service = ScoringService(context.champions)
    bodies = {}
    for path, model in service.routes.items():
        if path.startswith("/models/"):
            continue
        fields = service.fields[model]
        table = context.table(model)
        sample = table.frame.iloc[rng.sample(range(len(table.frame)), min(200, len(table.frame)))].to_dict(
            "records"
        )
        as_of = context.model(model).time_column if "as_of" in service.requests[model].model_fields else None
        bodies[path] = [
            {
                **body_for(fields, r),
                # a share of point-in-time requests ask as of the day the row was scored for
                **({"as_of": str(r[as_of])[:10]} if as_of and rng.random() < AS_OF_SHARE else {}),
            }
            for r in sample
        ]
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
        gc.collect()
        gc.freeze()  # this process's own tables must not stall its clients' timing
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
        out["server_rss_gib"] = rss_gib(server.pid)
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
        "live scoring": bench_live_scoring(args.home, max(1, args.calls // 4), rng),
        "endpoints": bench_endpoints(args.home, args.seconds, args.clients, rng),
        "clients": args.clients,
        "seconds": args.seconds,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    for section in ("lookups", "live scoring", "endpoints"):
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
