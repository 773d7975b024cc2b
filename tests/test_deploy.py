"""The production stack, checked without a Docker engine: docker-compose.yml and the Dockerfile are
read and held against the code (commands, settings, ports, dependencies, volumes); Prometheus'
configuration goes through `promtool`; the Grafana dashboard may only ask for metrics the code
exports; nginx runs here for real with the compose configuration, in front of the real app and the
real webhook receiver."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
import yaml

from core.config import Settings
from tests.conftest import REQUIRE_SERVICES
from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_TEXT = (ROOT / "docker-compose.yml").read_text(encoding="utf-8")
COMPOSE = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict] = COMPOSE["services"]
OURS = {name: s for name, s in SERVICES.items() if s.get("image") == "cnss-whatsapp:latest"}
SETTINGS = {name.upper() for name in Settings.model_fields}
ENV_EXAMPLE = (ROOT / ".env.example").read_text(encoding="utf-8")
DOCUMENTED = set(re.findall(r"^([A-Z][A-Z0-9_]*)=", ENV_EXAMPLE, re.M))


def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        message = f"{tool} is not installed (make test installs it with apt)"
        if REQUIRE_SERVICES:
            pytest.fail(message)
        pytest.skip(message)
    return path


def option(command: list[str], name: str) -> str:
    """The value of `--name V` or `--name=V` in a command."""
    for i, part in enumerate(command):
        if part == name:
            return command[i + 1]
        if part.startswith(name + "="):
            return part.split("=", 1)[1]
    raise AssertionError(f"{name} not in {command}")


def test_the_stack_has_every_service() -> None:
    assert set(SERVICES) == {"postgres", "redis", "redis-spool", "migrate", "app", "worker", "webhooks", "prometheus",
                             "grafana", "nginx"}
    assert set(OURS) == {"migrate", "app", "worker", "webhooks"}
    for service in OURS.values():
        assert service["build"] == "." and service["env_file"] == ".env"


@pytest.mark.parametrize("name", sorted(OURS))
def test_each_python_service_runs_a_command_the_code_has(name: str) -> None:
    command = OURS[name]["command"]
    if command[0] == "streamlit":
        assert command[1] == "run" and (ROOT / command[2]).is_file()
        assert option(command, "--server.port").isdigit()
        return
    assert command[:2] == ["python", "-m"], command
    module = command[2]
    package_main = ROOT / module.replace(".", "/") / "__main__.py"
    cli = importlib.import_module(f"{module}.__main__" if package_main.exists() else module)
    cli.build_parser().parse_args(command[3:])  # SystemExit(2) on an unknown option or subcommand


def test_the_dockerfile_builds_one_slim_non_root_image_with_the_model_inside() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    froms = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert froms and all(image.startswith("python:3.11") and image.endswith("-slim") for image in froms)
    users = re.findall(r"^USER (\S+)", dockerfile, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "download.pytorch.org/whl/cpu" in dockerfile and '"torch==2.13.0"' in dockerfile
    assert "-r requirements.txt" in dockerfile and "HF_HUB_OFFLINE=1" in dockerfile
    assert re.search(r"RUN python -c .*from rag\.embeddings import embed", dockerfile), "model load checked at build"
    for source in re.findall(r"^COPY --chown=\S+ (\S+) ", dockerfile, re.M):
        assert (ROOT / source).exists(), source
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".venv", "data", ".env", ".git"} <= set(ignored)
    torch_pin = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if line.startswith("torch==")]
    assert torch_pin == ["torch==2.13.0"]


def test_migrations_run_once_before_the_app_the_workers_and_the_receiver() -> None:
    migrate = OURS["migrate"]
    assert migrate["command"] == ["python", "-m", "core", "db", "upgrade"] and migrate["restart"] == "no"
    assert migrate["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    for name in ("app", "worker", "webhooks"):
        assert OURS[name]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}, name


def test_dependencies_health_checks_and_restart_policies_are_consistent() -> None:
    for name, service in SERVICES.items():
        depends = service.get("depends_on", {})
        for other, rule in (depends.items() if isinstance(depends, dict) else ((d, {}) for d in depends)):
            assert other in SERVICES, f"{name} depends on unknown {other}"
            if rule.get("condition") == "service_healthy":
                assert "healthcheck" in SERVICES[other], f"{name} waits for {other}'s health, which has no check"
        if name != "migrate":
            assert service.get("restart") == "unless-stopped", name
            assert "healthcheck" in service, name


def test_only_nginx_is_published_and_workers_can_be_scaled() -> None:
    assert [name for name, s in SERVICES.items() if "ports" in s] == ["nginx"]
    worker = SERVICES["worker"]
    assert "container_name" not in worker and "ports" not in worker
    assert worker["stop_grace_period"] == "150s"  # longer than a dispatcher's turn (120 s)


def test_volumes_are_named_or_files_of_the_repository() -> None:
    declared = set(COMPOSE["volumes"])
    used = set()
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
            else:
                assert source in declared, f"{name} uses undeclared volume {source}"
                used.add(source)
    assert used == declared == {"pgdata", "redisdata", "spooldata", "appdata", "promdata", "grafanadata"}


def test_acknowledged_webhooks_wait_in_a_redis_that_fsyncs_every_write() -> None:
    spool = SERVICES["redis-spool"]
    command = spool["command"]
    assert command[command.index("--appendfsync") + 1] == "always" and "--appendonly" in command
    assert any(v.endswith(":/data") for v in spool["volumes"])
    receiver = SERVICES["webhooks"]
    assert receiver["environment"]["WEBHOOK_SPOOL_REDIS_URL"] == "redis://redis-spool:6379/0"
    assert receiver["depends_on"]["redis-spool"]["condition"] == "service_healthy"


def test_every_variable_is_a_documented_setting() -> None:
    assert SETTINGS <= DOCUMENTED, f"settings missing from .env.example: {SETTINGS - DOCUMENTED}"
    for name, service in OURS.items():
        for key in service["environment"]:
            assert key in SETTINGS, f"{name} sets {key}, which no setting reads"
    interpolated = set(re.findall(r"\$\{([A-Z0-9_]+)", COMPOSE_TEXT))
    assert interpolated and interpolated <= DOCUMENTED, interpolated - DOCUMENTED


def test_ports_line_up_between_services_nginx_prometheus_and_health_checks() -> None:
    app_port = option(OURS["app"]["command"], "--server.port")
    webhook_port = option(OURS["webhooks"]["command"], "--port")
    metrics_port = option(OURS["worker"]["command"], "--metrics-port")
    assert int(metrics_port) == Settings.model_fields["worker_metrics_port"].default
    for name, port in (("app", app_port), ("webhooks", webhook_port), ("worker", metrics_port)):
        assert OURS[name]["expose"] == [port]
        assert f"127.0.0.1:{port}/" in " ".join(OURS[name]["healthcheck"]["test"]), name
    nginx = (ROOT / "deploy/nginx/nginx.conf").read_text()
    assert f"server app:{app_port};" in nginx and f"server webhooks:{webhook_port};" in nginx
    assert "server grafana:3000;" in nginx and SERVICES["grafana"]["expose"] == ["3000"]
    prometheus = yaml.safe_load((ROOT / "monitoring/prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in prometheus["scrape_configs"]}
    assert jobs["workers"]["dns_sd_configs"] == [{"names": ["worker"], "type": "A", "port": int(metrics_port),
                                                  "refresh_interval": "30s"}]
    assert jobs["webhooks"]["static_configs"] == [{"targets": [f"webhooks:{webhook_port}"]}]
    datasource = yaml.safe_load((ROOT / "monitoring/grafana/provisioning/datasources/prometheus.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090" and SERVICES["prometheus"]["expose"] == ["9090"]


def test_prometheus_configuration_and_alerts_are_valid(tmp_path: Path) -> None:
    promtool = need("promtool")
    config = (ROOT / "monitoring/prometheus.yml").read_text().replace("/etc/prometheus/alerts.yml",
                                                                      str(ROOT / "monitoring/alerts.yml"))
    (tmp_path / "prometheus.yml").write_text(config)
    result = subprocess.run([promtool, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def exported_metric_names() -> set[str]:
    """Every metric family the workers and the receiver export, read from a real scrape of both
    registries (the cluster gauges included)."""
    from prometheus_client import REGISTRY, generate_latest

    import workers.webhooks  # noqa: F401 - registers the receiver's metrics
    from core import metrics

    text = generate_latest(REGISTRY).decode()
    names = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    collected = {family.name for family in metrics.ClusterCollector().collect()}  # what it really makes
    assert collected <= set(metrics.ClusterCollector.NAMES)
    assert {"cnss_ledger_rows", "cnss_campaigns", "cnss_database_up"} <= collected
    names |= set(metrics.ClusterCollector.NAMES)
    return names


def test_the_grafana_dashboard_only_asks_for_metrics_the_code_exports(sqlite_url: str) -> None:
    dashboard = json.loads((ROOT / "monitoring/grafana/dashboards/cnss-whatsapp.json").read_text(encoding="utf-8"))
    provider = yaml.safe_load((ROOT / "monitoring/grafana/provisioning/dashboards/cnss.yml").read_text())
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    names = exported_metric_names()
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = yaml.safe_load((ROOT / "monitoring/alerts.yml").read_text())
    expressions += [r["expr"] for g in rules["groups"] for r in g["rules"]]
    wanted = {"cnss_messages_total", "cnss_provider_request_seconds", "cnss_provider_responses_total",
              "cnss_provider_retries_total", "cnss_queue_depth", "cnss_ledger_rows", "cnss_webhook_events_total",
              "cnss_chatbot_answers_total", "cnss_chatbot_answer_seconds"}
    seen = set()
    for expr in expressions:
        for used in re.findall(r"\b(cnss_[a-z0-9_]+)", expr):
            base = re.sub(r"_(bucket|count|sum)$", "", used)
            family = base.removesuffix("_total")
            assert family in names or base in names, f"{used} is not exported"
            seen.add(base)
    assert wanted <= seen, wanted - seen
    assert all(p["datasource"]["uid"] == "cnss-prometheus" for p in dashboard["panels"])


# --- nginx, for real --------------------------------------------------------------------------------

def test_nginx_with_the_compose_configuration_serves_the_app_and_the_webhooks(tmp_path: Path, running_app,
                                                                                monkeypatch) -> None:  # noqa: ANN001
    """nginx started here with deploy/nginx, its upstreams pointed at loopback: the app (and its
    websocket) and the webhook receiver answer through it; the receiver's metrics do not."""
    nginx = need("nginx")
    from core import config, inbound
    from tests.support.servers import ThreadedServer
    from workers.webhooks import create_app

    monkeypatch.setenv("DATABASE_URL", running_app.database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RESPONDIO_WEBHOOK_SECRETS", "clé-nginx")
    config.reload_settings()
    receiver = ThreadedServer(create_app(), name="webhooks").start()
    port = free_port()
    conf = (ROOT / "deploy/nginx/nginx.conf").read_text()
    conf = (conf.replace("server app:8501;", f"server 127.0.0.1:{running_app.port};")
            .replace("server webhooks:8000;", f"server 127.0.0.1:{receiver.port};")
            .replace("server grafana:3000;", f"server 127.0.0.1:{free_port()};")
            .replace("listen 80;", f"listen 127.0.0.1:{port};")
            .replace("/etc/nginx/cnss-locations.conf", str(ROOT / "deploy/nginx/locations.conf"))
            .replace("pid /tmp/nginx.pid;", f"pid {tmp_path}/nginx.pid;")
            .replace("/tmp/nginx-", f"{tmp_path}/nginx-"))
    conf = conf.replace("events {", f"error_log {tmp_path}/error.log;\nevents {{", 1)
    (tmp_path / "nginx.conf").write_text(conf)
    check = subprocess.run([nginx, "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    proc = subprocess.Popen([nginx, "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path), "-g", "daemon off;"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/nginx-health", timeout=1).text == "ok\n":
                    break
            except httpx.HTTPError:
                pass
            import time

            time.sleep(0.05)
        assert httpx.get(f"{base}/", timeout=10).status_code == 200
        assert httpx.get(f"{base}/_stcore/health", timeout=10).text == "ok"
        import asyncio

        import websockets

        async def handshake() -> None:
            async with websockets.connect(f"ws://127.0.0.1:{port}/_stcore/stream", open_timeout=10):
                pass  # the upgrade went through nginx to Streamlit

        asyncio.run(handshake())
        body = json.dumps({"event_id": "nginx-1", "event_type": "contact.updated",
                           "contact": {"phone": "+24177000111", "firstName": "Awa"}}).encode()
        answer = httpx.post(f"{base}/webhooks/respondio", content=body, timeout=10,
                            headers={"X-Webhook-Signature": inbound.sign(body, "clé-nginx"),
                                     "Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
        refused = httpx.post(f"{base}/webhooks/respondio", content=body, timeout=10,
                             headers={"X-Webhook-Signature": "faux"})
        assert refused.status_code == 401
        assert "cnss_" not in httpx.get(f"{base}/metrics", timeout=10).text  # not the receiver's metrics
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        receiver.stop()


def test_prometheus_with_the_compose_configuration_scrapes_the_receiver(tmp_path: Path, sqlite_url: str,
                                                                        monkeypatch) -> None:  # noqa: ANN001
    """Prometheus started here with monitoring/prometheus.yml and alerts.yml (targets pointed at
    loopback, scraped every second): the real receiver's target is up and its metrics are stored."""
    prometheus = need("prometheus")
    from core import config
    from tests.support.servers import ThreadedServer
    from workers.webhooks import create_app

    monkeypatch.setenv("RESPONDIO_WEBHOOK_SECRETS", "clé-prometheus")
    config.reload_settings()
    receiver = ThreadedServer(create_app(), name="webhooks").start()
    settings = yaml.safe_load((ROOT / "monitoring/prometheus.yml").read_text())
    settings["global"]["scrape_interval"] = "1s"
    settings["rule_files"] = [str(ROOT / "monitoring/alerts.yml")]
    jobs = {job["job_name"]: job for job in settings["scrape_configs"]}
    jobs["webhooks"]["static_configs"] = [{"targets": [f"127.0.0.1:{receiver.port}"]}]
    jobs["workers"].pop("dns_sd_configs")
    jobs["workers"]["static_configs"] = [{"targets": [f"127.0.0.1:{free_port()}"]}]  # no worker: down
    port = free_port()
    jobs["prometheus"]["static_configs"] = [{"targets": [f"127.0.0.1:{port}"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(settings))
    proc = subprocess.Popen([prometheus, f"--config.file={tmp_path / 'prometheus.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        import time

        deadline = time.monotonic() + 60
        up = None
        while time.monotonic() < deadline:
            try:
                answer = httpx.get(f"{base}/api/v1/query", params={"query": "cnss_webhook_spooled_events"}, timeout=2)
                targets = httpx.get(f"{base}/api/v1/targets", timeout=2).json()["data"]["activeTargets"]
                up = {t["labels"]["job"]: t["health"] for t in targets}
                if up.get("webhooks") == "up" and up.get("workers") == "down" and answer.json()["data"]["result"] and \
                        httpx.get(f"{base}/api/v1/rules", timeout=2).json()["data"]["groups"]:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.5)
        assert up is not None and up["webhooks"] == "up" and up["workers"] == "down", up
        rules = httpx.get(f"{base}/api/v1/rules", timeout=5).json()["data"]["groups"][0]["rules"]
        assert {r["name"] for r in rules} >= {"NoWorker", "DatabaseDown", "SendFailuresHigh"}
        series = httpx.get(f"{base}/api/v1/series", params={"match[]": '{job="webhooks"}'}, timeout=5).json()["data"]
        assert any(s["__name__"].startswith("cnss_webhook") for s in series)
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        receiver.stop()
