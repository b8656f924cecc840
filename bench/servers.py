"""uvicorn against granian serving payreq's GET /payment/request/{id}: one process of
each on the same fresh database, pinned as bench/run.py pins them, 3 interleaved rounds.

    .venv/bin/python bench/servers.py
"""

import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generators import Sample, choose, run_once
from procs import Pinning, Processes, pinned
from scenarios import get_payment
from stack import Server, free_port, one_seeded_payreq, wait_ready

pin = Pinning.choose(enabled=True)
gen = choose("auto", client_cpus=pin.client_cpu_count)
with tempfile.TemporaryDirectory() as tmp, Processes() as procs:
    wd = Path(tmp)
    uv, seeded, env = one_seeded_payreq(procs, wd, pin, name="uvicorn")
    gport = free_port()
    glog = wd / "granian.log"
    gcmd = [
        str(Path(sys.executable).with_name("granian")),
        "--interface",
        "asgi",
        "--factory",
        "--host",
        "127.0.0.1",
        "--port",
        str(gport),
        "--workers",
        "1",
        "--loop",
        "uvloop",
        "--no-access-log",
        "--log-level",
        "warning",
        "payreq.app:create_server_app",
    ]
    gr = Server(
        "granian",
        gport,
        procs.start(
            pinned(gcmd, pin.server),
            env={**env, "PAYREQ_BASE_URL": f"http://127.0.0.1:{gport}"},
            stdout=glog,
            stderr=glog,
        ),
        glog,
    )
    wait_ready(gr, "/readyz")
    results: dict[str, list[Sample]] = {"uvicorn": [], "granian": []}
    for rnd in range(3):
        for name, srv in (
            (("uvicorn", uv), ("granian", gr)) if rnd % 2 == 0 else (("granian", gr), ("uvicorn", uv))
        ):
            sc = get_payment(name, srv.port, access_token=seeded.access_token, get_paths=seeded.get_paths)
            s = run_once(procs, gen, sc, pinning=pin, out=wd / f"{name}-{rnd}.out")
            results[name].append(s)
            print(
                rnd,
                name,
                f"{s.rps:,.0f} req/s p99 {s.p99_ms:.1f} ms errors {s.http_errors + s.errors}",
                flush=True,
            )
    for name, ss in results.items():
        print(
            name,
            "median",
            f"{statistics.median(s.rps for s in ss):,.0f} req/s",
            "p99",
            f"{statistics.median(s.p99_ms for s in ss):.1f} ms",
        )
    print(
        "ratio granian/uvicorn per round:",
        [round(g.rps / u.rps, 2) for g, u in zip(results["granian"], results["uvicorn"], strict=True)],
    )
