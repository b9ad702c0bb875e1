"""Latency of agent-tool lookups and of the real-time endpoints, on a trained home.

python benchmarks/bench_serving.py --home H [--seconds 20] [--clients 4] [--old DIR [--rounds N]]
    [--endpoints-only] [--json]

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
   ``as_of`` day; p50/p99 per endpoint, of latest and of ``as_of`` requests, overall, and
   throughput. With ``--old DIR`` (a checkout of another commit, e.g. ``git worktree add``),
   that commit's server runs too, on the same home and bodies, alternating with this one
   ``--rounds`` times, both with this interpreter and the other checkout's core and plugins
   first on ``PYTHONPATH``; endpoints of models either server cannot load are left out.
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
    from health_monitor.serving.app import ScoringService
    from health_monitor.testing.conformance import body_for

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
    from langchain_core.tools import ToolException

    from health_monitor.agents import make_context
    from health_monitor.serving.app import ScoringService
    from health_monitor.testing.conformance import body_for

    context = make_context(home)
    service = ScoringService(context.champions)
    bodies = {}
    for path, model in service.routes.items():
        if path.startswith("/models/"):
            continue
        fields = service.fields[model]
        try:
            table = context.table(model)
        except ToolException:  # no predictions (e.g. the champion gate held the model back): left out
            print(f"{path}: no predictions of {model}, left out", file=sys.stderr)
            continue
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


def start_server(home: str, port: int, core: str | None = None) -> subprocess.Popen:
    """``health-monitor serve`` in its own process; ``core``: another checkout's root, whose
    core and plugins are imported instead of the installed ones (same interpreter)."""
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if core is not None:
        paths = [Path(core, "core"), *sorted(Path(core, "plugins").glob("*/"))]
        env["PYTHONPATH"] = os.pathsep.join(map(str, paths))
    server = subprocess.Popen(
        [sys.executable, "-m", "health_monitor.cli", "serve", "--home", home, "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.monotonic() + 600
    while True:
        line = server.stdout.readline()
        if "serving" in line:
            return server
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"the server did not start: {line}")


def unavailable(port: int) -> set[str]:
    """The models a running server reports unavailable on /health."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/health")
    models = json.loads(conn.getresponse().read())["models"]
    conn.close()
    return {m for m, status in models.items() if "unavailable" in status}


def drive(port: int, bodies: dict[str, list[dict]], seconds: float, clients: int) -> dict:
    """``clients`` threads with keep-alive connections for ``seconds``: p50/p99 per endpoint,
    of latest and ``as_of`` requests, overall, and throughput."""
    gc.collect()
    gc.freeze()  # this process's own tables must not stall its clients' timing
    samples: dict[tuple[str, str], list[float]] = {}
    errors: list[str] = []
    stop = time.monotonic() + seconds
    paths = [p for p in bodies if bodies[p]]

    def client(seed: int) -> None:
        local = random.Random(seed)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while time.monotonic() < stop:
            path = local.choice(paths)
            body = local.choice(bodies[path])
            start = time.perf_counter()
            conn.request("POST", path, body=json.dumps(body), headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            payload = response.read()
            elapsed = time.perf_counter() - start
            if response.status != 200:
                errors.append(f"{path} {response.status} {payload[:200]!r}")
            else:
                samples.setdefault((path, "as_of" if "as_of" in body else "latest"), []).append(elapsed)
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    out = {p: percentiles([x for (q, _), s in samples.items() if q == p for x in s]) for p in paths}
    for kind in ("latest", "as_of"):
        mine = [x for (_, k), s in samples.items() if k == kind for x in s]
        if mine:
            out[f"all {kind}"] = percentiles(mine)
    out["all endpoints"] = percentiles([x for s in samples.values() for x in s])
    out["throughput_rps"] = round(sum(len(s) for s in samples.values()) / seconds, 1)
    out["errors"] = len(errors)
    if errors:
        out["first_errors"] = errors[:3]
    return out


def bench_endpoints(
    home: str, seconds: float, clients: int, rng: random.Random, old: str | None = None, rounds: int = 1
) -> dict:
    """The endpoints under load; with ``old`` (another checkout), its server and this one side
    by side on the same bodies, alternating ``rounds`` times, over the endpoints whose models
    both load (the other endpoints would answer 503)."""
    from health_monitor.agents import make_context
    from health_monitor.serving.app import ScoringService

    bodies = request_bodies(home, rng)
    routes = ScoringService(make_context(home).champions).routes
    servers = {"old": old, "new": None} if old else {"new": None}
    out: dict = {}
    for round_ in range(rounds):
        for name, core in servers.items():
            port = free_port()
            server = start_server(home, port, core)
            try:
                skip = unavailable(port)
                bodies = {p: b for p, b in bodies.items() if routes[p] not in skip}
                result = drive(port, bodies, seconds, clients)
                result["server_rss_gib"] = rss_gib(server.pid)
                result["skipped_models"] = sorted(skip)
                out[f"{name} (round {round_ + 1})" if rounds > 1 or old else name] = result
            finally:
                server.terminate()
                server.wait(timeout=30)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--home", required=True, help="a home after `health-monitor demo`")
    parser.add_argument("--calls", type=int, default=300, help="lookups per tool (default 300)")
    parser.add_argument("--seconds", type=float, default=20.0, help="endpoint load duration (default 20)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    parser.add_argument("--old", help="another checkout (e.g. a worktree): its server side by side")
    parser.add_argument("--rounds", type=int, default=1, help="endpoint runs per server, alternating")
    parser.add_argument("--endpoints-only", action="store_true", help="skip lookups and live scoring")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not Path(args.home).exists():
        parser.error(f"--home {args.home} does not exist")
    rng = random.Random(0)
    result = (
        {}
        if args.endpoints_only
        else {
            "lookups": bench_lookups(args.home, args.calls, rng),
            "live scoring": bench_live_scoring(args.home, max(1, args.calls // 4), rng),
        }
    )
    result["endpoints"] = bench_endpoints(args.home, args.seconds, args.clients, rng, args.old, args.rounds)
    result |= {"clients": args.clients, "seconds": args.seconds}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    sections = {s: result[s] for s in ("lookups", "live scoring") if s in result}
    sections |= {f"endpoints: {server}": r for server, r in result["endpoints"].items()}
    for section, stats_by_name in sections.items():
        print(section)
        for name, stats in stats_by_name.items():
            if isinstance(stats, dict):
                print(
                    f"  {name:<34} n={stats['n']:<6} p50={stats['p50_ms']:.2f} ms  p99={stats['p99_ms']:.2f} ms"
                )
            else:
                print(f"  {name:<34} {stats}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
