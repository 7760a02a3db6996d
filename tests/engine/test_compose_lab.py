"""The compose lab, run for real on a private Docker engine, the way a user with Docker runs it:
``make lab``, ``scripts/compose.sh switch`` and ``bench``, ``make down``, ``make clean``.

Every check goes through the published loopback ports (free ones, from the shell, as a user
changes them) or to the private engine's containers; Grafana and cAdvisor are left out (no
image of them can be had here). The tests share one lab and run in this order.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from contract.cases import BAD_REQUESTS, GOOD_REQUESTS, VALID_ITEM
from contract.checks import check_error, check_headers, check_json, comparable, send
from helpers import poll_until

from asynclab.registry import SERVICES as SERVICE_ROWS
from asynclab.registry import get_service
from tests.engine.conftest import LOCUST_WORKERS, SERVICES, ComposeRun
from tests.observability.dashboards import DASHBOARDS, Query, queries

pytestmark = [pytest.mark.engine, pytest.mark.timeout(900)]

FRAMEWORKS = tuple(SERVICE_ROWS)
PYTHON_FRAMEWORKS = tuple(name for name, row in SERVICE_ROWS.items() if row.python)
PORTS = {name: row.port_env for name, row in SERVICE_ROWS.items()}
# The service every other one answers like (the contract suite's oracle).
ORACLE = "fastapi"
# The contract's TechEmpower routes, /io/db and the health checks: every service, alike.
ROUTES = {"/json", "/plaintext", "/db", "/queries", "/updates", "/fortunes", "/io/db", "/readyz"}
# cAdvisor's container_* series need cAdvisor; node_* the native lab's node exporter.
NOT_IN_THIS_LAB = re.compile(r"\b(container_|node_)")
GENERATOR = "locust-bench:9647"  # up only while a bench runs (prometheus/targets/compose)
WAIT_S = 120.0


@pytest.fixture(scope="module")
def lab(compose_run: ComposeRun, lab_up: subprocess.CompletedProcess[str]) -> ComposeRun:
    return compose_run


@pytest.fixture(scope="module")
def clients(lab: ComposeRun) -> Iterator[dict[str, httpx.Client]]:
    made = {f: httpx.Client(base_url=lab.url(PORTS[f]), timeout=30) for f in FRAMEWORKS}
    yield made
    for client in made.values():
        client.close()


@pytest.fixture(scope="module")
def prometheus(lab: ComposeRun) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=lab.url("ASYNCLAB_PROMETHEUS_PORT"), timeout=10) as client:
        yield client


def promql(prometheus: httpx.Client, expr: str, since: float) -> list[dict[str, Any]]:
    params = {"query": expr, "start": since, "end": time.time(), "step": "2s"}
    response = prometheus.get("/api/v1/query_range", params=params)
    assert response.status_code == 200, f"{expr}: {response.text}"
    result: list[dict[str, Any]] = response.json()["data"]["result"]
    return result


def test_make_lab_picks_compose_and_prints_the_published_urls(
    lab: ComposeRun, lab_up: subprocess.CompletedProcess[str]
) -> None:
    assert "compose mode" in lab_up.stderr, lab_up.stderr
    services = [(row.label, row.port_env) for row in SERVICE_ROWS.values()]
    for label, variable in [("Locust", "ASYNCLAB_LOCUST_PORT"), *services,
                            ("Prometheus", "ASYNCLAB_PROMETHEUS_PORT")]:  # fmt: skip
        assert re.search(rf"^  {label} +{re.escape(lab.url(variable))}\b", lab_up.stdout, re.M)
    # Grafana was not started, so it is not offered.
    assert not re.search(r"^  Grafana ", lab_up.stdout, re.M)


def test_every_container_is_healthy(lab: ComposeRun) -> None:
    containers = lab.containers()
    services = [re.findall(r"com\.docker\.compose\.service=([^,]+)", c["Labels"])[0]
                for c in containers]  # fmt: skip
    assert sorted(services) == sorted([*SERVICES, "locust-worker"]), services  # two workers
    for container in containers:
        assert "(healthy)" in container["Status"], container
    # None crash-looped on the way (the Locust master did, when its image lacked services/).
    ids = [c["ID"] for c in containers]
    restarts = lab.engine.run("inspect", "--format", "{{.Name}} {{.RestartCount}}", *ids)
    assert all(line.endswith(" 0") for line in restarts.splitlines()), restarts


def test_no_container_logs_an_error(lab: ComposeRun) -> None:
    logs = lab.compose("logs", "--no-color", "--no-log-prefix")
    errors = [
        line
        for line in logs.splitlines()
        if re.search(r"\[ERROR\]|/ERROR/|Traceback|level=(error|fatal)|\b(FATAL|PANIC):", line)
    ]
    assert not errors, "\n".join(errors[:20])


def test_the_images_run_the_locust_scenarios_and_every_service(lab: ComposeRun) -> None:
    # The command that crash-looped the Locust master before the image held services/.
    listed = lab.compose(
        "run", "--rm", "--no-deps", "-T", "locust-bench",
        "python", "-m", "locust", "-f", "loadtests/,asynclab/locust_targets.py", "--list",
    )  # fmt: skip
    assert "Mixed" in listed
    imported = lab.compose(
        "run", "--rm", "--no-deps", "-T", "upstream", "python", "-c",
        "import asynclab.serve, services.flask.app, services.fastapi.app, services.upstream.app;"
        "print('ok')",
    )  # fmt: skip
    assert imported.strip().endswith("ok")


def test_every_service_passes_the_contract_subset(clients: dict[str, httpx.Client]) -> None:
    for req in [r for r in GOOD_REQUESTS if r.path in ROUTES and r.method == "GET"]:
        answers = {}
        for framework, client in clients.items():
            response = send(client, req)
            assert response.status_code == 200, (framework, req.id, response.text)
            check_headers(response, framework)
            answers[framework] = (response.headers["content-type"], comparable(req.path, response))
        for framework, answer in answers.items():
            assert answer == answers[ORACLE], (framework, req.id)
    bad = next(r for r in BAD_REQUESTS if r.path == "/io/db" and r.field == "ms")
    for framework, client in clients.items():
        check_error(send(client, bad), framework, bad)
        created = check_json(client.post("/items", json=VALID_ITEM), framework, 201)
        fetched = check_json(client.get(f"/items/{created['id']}"), framework)
        assert fetched == created == {"id": created["id"], **VALID_ITEM}


def stop(locust: httpx.Client) -> None:
    """Stop the master's run, and wait until it and its workers have, and every worker is ready
    again: a stopped worker leaves the master and comes back once its users have stopped, and a
    run started before then would go to the others alone."""
    response = locust.post("/stop")
    assert response.status_code == 200, response.text
    assert response.json()["success"], response.text

    def stopped() -> bool:
        stats = locust.get("/stats/requests").json()
        workers = stats["workers"]
        return bool(
            stats["state"] == "stopped"
            and stats["user_count"] == 0
            and len(workers) == LOCUST_WORKERS
            and all(w["state"] == "ready" for w in workers)
        )

    poll_until(stopped, "the master and its workers to stop, the workers to be ready", WAIT_S)


@pytest.fixture(scope="module")
def web_load(lab: ComposeRun, prometheus: httpx.Client) -> Iterator[float]:
    """A short load through the Locust web UI's API on each service in turn, Flask's last and
    left running (the Target drop-down fills the host field with one service); yields when it
    started."""
    since = time.time()
    with httpx.Client(base_url=lab.url("ASYNCLAB_LOCUST_PORT"), timeout=30) as locust:

        def swarm(host: str) -> None:
            users = 4
            form = {"user_count": str(users), "spawn_rate": str(users), "host": host,
                    "user_classes": "Mixed"}  # fmt: skip
            response = locust.post("/swarm", data=form)
            assert response.status_code == 200, response.text
            assert response.json()["success"], response.text

            # The master starts the run after it answers; until then its figures are the last
            # run's, and a stop would find nothing to stop.
            def started() -> bool:
                stats = locust.get("/stats/requests").json()
                return bool(stats["state"] == "running" and stats["user_count"] == users)

            poll_until(started, f"the run on {host} to start", timeout=WAIT_S)

        def requests_at_least(count: int) -> dict[str, Any] | None:
            stats: dict[str, Any] = locust.get("/stats/requests").json()
            total = next(s for s in stats["stats"] if s["name"] == "Aggregated")
            return stats if total["num_requests"] >= count else None

        # By its network alias at its port inside the containers (asynclab/locust_targets.py).
        first = [name for name in FRAMEWORKS if name != "flask"]
        for name in first:
            swarm(f"http://{name}:{SERVICE_ROWS[name].port}")
            poll_until(lambda: requests_at_least(50), f"50 requests on {name}", timeout=WAIT_S)
            stop(locust)
        swarm("http://flask:8001")
        try:
            poll_until(lambda: requests_at_least(50), "50 requests on Flask", timeout=WAIT_S)
            yield since
        finally:
            # Normally stopped already (test_the_web_api_stops_the_load); a failed run's lab
            # may be gone by now.
            with contextlib.suppress(httpx.HTTPError):
                locust.post("/stop")


def test_the_master_runs_two_workers_and_prometheus_sees_the_requests(
    lab: ComposeRun, prometheus: httpx.Client, web_load: float
) -> None:
    with httpx.Client(base_url=lab.url("ASYNCLAB_LOCUST_PORT"), timeout=30) as locust:
        last: dict[str, Any] = {}

        def both_workers_run_users() -> bool:
            # Each worker's entry follows its heartbeat, a moment behind the requests.
            stats = locust.get("/stats/requests").json()
            workers = stats["workers"]
            last.update(state=stats["state"], users=stats["user_count"], workers=workers)
            return stats["worker_count"] == LOCUST_WORKERS and all(
                w["user_count"] > 0 for w in workers
            )

        try:
            poll_until(both_workers_run_users, "both workers to run users", timeout=WAIT_S)
        except AssertionError as exc:
            logs = lab.compose("logs", "--no-color", "locust-master", "locust-worker")
            pytest.fail(f"{exc}; the master's last report: {last}\n{logs[-6000:]}")

    def seen() -> bool:
        by_service = 'sum by (service) (http_requests_total{route="/io/db"})'
        served = promql(prometheus, by_service, web_load)
        generated = promql(prometheus, 'locust_requests_per_second{name="Aggregated"}', web_load)
        return {s["metric"]["service"] for s in served} == set(FRAMEWORKS) and bool(generated)

    poll_until(seen, "every service's and the generator's requests in Prometheus", timeout=WAIT_S)


def test_every_prometheus_target_is_up(prometheus: httpx.Client, web_load: float) -> None:
    def down() -> list[str]:
        targets = prometheus.get("/api/v1/targets").json()["data"]["activeTargets"]
        jobs = {row.job for row in SERVICE_ROWS.values()} | {"locust", "postgres"}
        assert {t["labels"]["job"] for t in targets} >= jobs
        ignored = {GENERATOR, "cadvisor:8080"}  # not running now, not run here
        return [
            f"{t['labels']['instance']}: {t['lastError']}"
            for t in targets
            if t["labels"]["instance"] not in ignored and t["health"] != "up"
        ]

    poll_until(lambda: not down(), "every target up", timeout=WAIT_S)


def test_the_dashboards_queries_return_data(prometheus: httpx.Client, web_load: float) -> None:
    pending = [q for p in DASHBOARDS for q in queries(p) if not NOT_IN_THIS_LAB.search(q.expr)]
    assert len(pending) > 20

    def lacking() -> list[Query]:
        nonlocal pending
        pending = [q for q in pending if not promql(prometheus, q.expr, web_load)]
        return pending

    try:
        poll_until(lambda: not lacking(), "every dashboard query to return data", timeout=WAIT_S)
    except AssertionError:
        pytest.fail("no data for:\n" + "\n".join(map(str, pending)))


def test_the_web_api_stops_the_load(lab: ComposeRun, web_load: float) -> None:
    # Before the switch and the bench: their figures must not share the services with it.
    with httpx.Client(base_url=lab.url("ASYNCLAB_LOCUST_PORT"), timeout=30) as locust:
        stop(locust)


def served_variant(client: httpx.Client) -> set[str]:
    return set(re.findall(r'variant="([^"]+)"', client.get("/metrics").text))


def test_switch_serves_another_variant_and_leaves_none_of_the_old(
    lab: ComposeRun, clients: dict[str, httpx.Client]
) -> None:
    lab.script("switch", "flask", "flask-gthread")
    assert served_variant(clients["flask"]) == {"flask-gthread"}
    assert lab.service_containers("flask-sync") == []
    # The next start follows COMPOSE_PROFILES again (flask-sync): it must remove flask-gthread
    # first, which compose 2.23+ does not count as an orphan (docker/compose#11486).
    lab.make("lab")
    assert served_variant(clients["flask"]) == {"flask-sync"}
    assert lab.service_containers("flask-gthread") == []


def test_flask_sync_nginx_shelters_the_sync_workers_in_a_container(
    lab: ComposeRun, clients: dict[str, httpx.Client]
) -> None:
    """The image's nginx runs as the container's user and reads requests whole: connections
    that send nothing (three would hold every sync worker of flask-sync) hold none."""
    lab.script("switch", "flask", "flask-sync-nginx")
    try:
        assert served_variant(clients["flask"]) == {"flask-sync-nginx"}
        url = clients["flask"].base_url
        idle = [socket.create_connection((url.host, url.port or 80)) for _ in range(6)]
        try:
            for _ in range(6):
                assert clients["flask"].get("/db").status_code == 200
        finally:
            for sock in idle:
                sock.close()
    finally:
        lab.make("lab")
    assert served_variant(clients["flask"]) == {"flask-sync"}
    assert lab.service_containers("flask-sync-nginx") == []


@pytest.mark.parametrize("framework", PYTHON_FRAMEWORKS)
def test_granian_serves_each_framework_in_a_container(
    lab: ComposeRun, clients: dict[str, httpx.Client], framework: str
) -> None:
    """The image has granian's wheel, and each app runs under it with its own Server header."""
    variant = f"{framework}-granian"
    default = get_service(framework).variant
    lab.script("switch", framework, variant)
    try:
        assert served_variant(clients[framework]) == {variant}
        answer = clients[framework].get("/db")
        assert answer.status_code == 200
        assert answer.headers["server"] == f"asynclab-{framework}"
    finally:
        lab.make("lab")
    assert served_variant(clients[framework]) == {default}
    assert lab.service_containers(variant) == []


def test_the_reference_services_other_variants_run_in_their_containers(
    lab: ComposeRun, clients: dict[str, httpx.Client]
) -> None:
    """node-cluster forks its workers in the container; go-multi gets GOMAXPROCS = the whole
    CPUs of SERVICE_CPUS (Go 1.19 reads no CPU quota); both answer, and `make lab` puts the
    defaults back."""
    lab.script("switch", "node", "node-cluster")
    lab.script("switch", "go", "go-multi")
    try:
        assert served_variant(clients["node"]) == {"node-cluster"}
        assert served_variant(clients["go"]) == {"go-multi"}
        [node] = lab.service_containers("node-cluster")
        processes = lab.engine.run("top", node["ID"], "-o", "pid,args").splitlines()[1:]
        # The primary and ASYNCLAB_WORKERS (3) workers.
        assert len([p for p in processes if "services/node/server.js" in p]) == 4, processes
        [go] = lab.service_containers("go-multi")
        env = json.loads(lab.engine.run("inspect", "--format", "{{json .Config.Env}}", go["ID"]))
        assert "GOMAXPROCS=1" in env, env  # SERVICE_CPUS=1.0 in .env
        for framework in ("node", "go"):
            assert clients[framework].get("/db").status_code == 200
    finally:
        lab.make("lab")
    assert served_variant(clients["node"]) == {"node-single"}
    assert served_variant(clients["go"]) == {"go-single"}
    assert lab.service_containers("node-cluster") == lab.service_containers("go-multi") == []


def test_a_compose_bench_writes_a_complete_summary(
    lab: ComposeRun, prometheus: httpx.Client, clients: dict[str, httpx.Client]
) -> None:
    since = time.time()
    results = lab.work / "results"
    lab.script(
        "bench", "--profile", "smoke", "--variants", "flask-gthread,fastapi-async",
        "--results-dir", str(results), "--no-report", timeout=420,
    )  # fmt: skip
    [set_dir] = [p for p in results.iterdir() if p.is_dir() and not p.is_symlink()]
    summary = json.loads((set_dir / "summary.json").read_text())
    assert summary["status"] == "complete", summary["errors"]
    assert {row["variant"] for row in summary["rows"]} == {"flask-gthread", "fastapi-async"}
    for row in summary["rows"]:
        assert row["rps"] > 0, row
        assert row["failures"] == 0, row
        # Sampled from the generator container's processes on this machine.
        assert row["generator_cpu"] is not None, row
        assert row["generator_cpu"] > 0, row
    manifest = json.loads((set_dir / "manifest.json").read_text())
    assert manifest["lab"]["mode"] == "compose"
    assert "locust-bench container" in manifest["cpu_plan"]["generator_plan"]
    # The bench put back what it found, and no generator container is left.
    assert served_variant(clients["flask"]) == {"flask-sync"}
    assert lab.service_containers("flask-gthread") == []
    assert lab.service_containers("locust-bench") == []
    # The lab's Prometheus scraped the bench's generator in its container.
    scenario = f'locust_scenario_info{{instance="{GENERATOR}", scenario="io_db/fastapi-async"}}'
    poll_until(lambda: promql(prometheus, scenario, since), "the bench generator's metrics", 30)


def test_make_down_leaves_no_container_and_no_network(lab: ComposeRun) -> None:
    lab.make("down")
    assert lab.containers() == []
    label = f"label=com.docker.compose.project={lab.project}"
    assert lab.engine.run("network", "ls", "--quiet", "--filter", label).split() == []
    # The data is kept until `make clean`.
    assert lab.engine.run("volume", "ls", "--quiet", "--filter", label).split()


def test_make_clean_removes_volumes_and_images(lab: ComposeRun) -> None:
    # CACHES=: the repository's own caches are none of this test's business.
    lab.make("clean", "CACHES=")
    label = f"label=com.docker.compose.project={lab.project}"
    assert lab.engine.run("volume", "ls", "--quiet", "--filter", label).split() == []
    built = lab.engine.run("images", "--quiet", "--filter", f"reference={lab.project}-*")
    assert built.split() == []
    assert not Path(lab.env["ASYNCLAB_STATE_DIR"]).exists()
