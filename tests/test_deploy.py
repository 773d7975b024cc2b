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
    copied = {source for sources in re.findall(r"^COPY --chown=\S+ (.+) \S+$", dockerfile, re.M)
              for source in sources.split()}
    assert {"app.py", "cli.py", "core", "pages", "rag", "workers", ".streamlit"} <= copied  # all the code runs
    for source in copied:
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
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    assert SERVICES["prometheus"]["expose"] == ["9090"]


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
    from core import exporter, metrics  # noqa: F401 - the workers' metrics, and the cluster gauges

    text = generate_latest(REGISTRY).decode()
    names = set(re.findall(r"^# TYPE (\S+) ", text, re.M))
    collected = {family.name for family in exporter.ClusterCollector().collect()}  # what it really makes
    assert collected <= set(exporter.ClusterCollector.NAMES)
    assert {"cnss_ledger_rows", "cnss_campaigns", "cnss_database_up"} <= collected
    names |= set(exporter.ClusterCollector.NAMES)
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

def test_nginx_configuration_is_https_only_with_security_headers_and_limits() -> None:
    """Read, not run: port 80 only redirects (and answers the health check), 443 carries the site
    with HSTS, framing refused, a Content-Security-Policy for the app, connection limits; the
    compose service builds the image that writes a self-signed certificate on first start."""
    conf = (ROOT / "deploy/nginx/nginx.conf").read_text()
    routes = (ROOT / "deploy/nginx/locations.conf").read_text()
    plain, tls = conf.split("listen 443 ssl http2;")
    assert "return 301 https://$host$request_uri;" in plain and "cnss-locations.conf" not in plain
    assert "include /etc/nginx/cnss-locations.conf;" in tls
    for header in ('Strict-Transport-Security "max-age=31536000" always', 'X-Frame-Options "DENY" always',
                   'X-Content-Type-Options "nosniff" always',
                   "Content-Security-Policy $content_security_policy always"):
        assert f"add_header {header};" in tls, header
    assert not re.search(r"^\s*add_header", routes, re.M)  # a location that adds one would drop the server's
    policy = re.search(r'map \$uri \$content_security_policy \{\s*default "([^"]+)"', conf).group(1)
    directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
    assert directives["img-src"] == "'self' data: blob:" and directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'" and "unsafe-inline" not in directives["script-src"]
    # The inline script Streamlit's page carries is allowed by its hash, for the installed version.
    import base64
    import hashlib

    import streamlit

    index = (Path(streamlit.__file__).parent / "static/index.html").read_text(encoding="utf-8")
    inline = re.findall(r"<script>(.*?)</script>", index, re.S)
    from pages._shell import FRENCH_SCRIPT_BODY  # and the script that says Streamlit's labels in French

    inline.append(FRENCH_SCRIPT_BODY)
    hashes = {f"'sha256-{base64.b64encode(hashlib.sha256(i.encode()).digest()).decode()}'" for i in inline}
    assert directives["script-src"] == " ".join(["'self'", *sorted(hashes), "'wasm-unsafe-eval'"])
    assert "ssl_protocols TLSv1.2 TLSv1.3;" in tls
    stream = routes.split("location = /_stcore/stream {")[1].split("}")[0]
    assert re.search(r"limit_conn per_address \d+;", stream) and "X-Real-IP $remote_addr" in stream
    nginx = SERVICES["nginx"]
    assert nginx["build"] == "./deploy/nginx" and "443:443" in nginx["ports"]
    assert "./deploy/tls:/etc/nginx/tls" in [v.split("  ")[0] for v in nginx["volumes"]]  # writable
    dockerfile = (ROOT / "deploy/nginx/Dockerfile").read_text()
    assert "apk add --no-cache openssl" in dockerfile
    assert "self-signed-certificate.sh /docker-entrypoint.d/" in dockerfile
    assert COMPOSE["x-python"]["environment"]["CLIENT_IP_HEADER"] == "X-Real-IP"  # what nginx sets


def test_the_first_start_script_writes_a_certificate_once_and_never_replaces_one(tmp_path: Path) -> None:
    need("openssl")
    from tests.support.nginx import self_signed

    first = self_signed(tmp_path, "whatsapp.cnss.ga")
    assert "self-signed" in first.stderr
    key, cert = (tmp_path / "privkey.pem"), (tmp_path / "fullchain.pem")
    assert oct(key.stat().st_mode & 0o777) == "0o600" and b"PRIVATE KEY" in key.read_bytes()
    text = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-subject", "-ext", "subjectAltName"],
                          capture_output=True, text=True, check=True).stdout
    assert "CN = whatsapp.cnss.ga" in text and "DNS:whatsapp.cnss.ga" in text
    before = cert.read_bytes()
    again = self_signed(tmp_path)
    assert again.stderr == "" and cert.read_bytes() == before  # already there: untouched
    cert.write_text("the real certificate\n")
    self_signed(tmp_path)
    assert cert.read_text() == "the real certificate\n"
    # A key waiting for its certificate (a renewal under way) is never replaced: the start stops.
    cert.unlink()
    key.write_text("the real key\n")
    with pytest.raises(subprocess.CalledProcessError) as stopped:
        self_signed(tmp_path)
    assert "only one of fullchain.pem and privkey.pem" in stopped.value.stderr
    assert key.read_text() == "the real key\n" and not cert.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no work folder left


def test_nginx_with_the_compose_configuration_serves_the_site_over_https(tmp_path: Path, running_app,
                                                                          monkeypatch) -> None:  # noqa: ANN001
    """nginx started here with deploy/nginx (upstreams on loopback, the certificate its first-start
    script wrote): http redirects to https; the app (and its websocket) and the webhook receiver
    answer over https with the security headers; the receiver's metrics do not; the stream is
    limited per address."""
    nginx = need("nginx")
    need("openssl")
    import asyncio
    import ssl

    import websockets

    from core import config, inbound
    from tests.support.nginx import start_nginx
    from tests.support.servers import ThreadedServer
    from workers.webhooks import create_app

    monkeypatch.setenv("DATABASE_URL", running_app.database_url)
    monkeypatch.setenv("DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RESPONDIO_WEBHOOK_SECRETS", "clé-nginx")
    config.reload_settings()
    receiver = ThreadedServer(create_app(), name="webhooks").start()
    proxy = start_nginx(nginx, tmp_path, app_port=running_app.port, webhooks_port=receiver.port)
    try:
        moved = httpx.get(f"{proxy.http}/campagnes?x=1", timeout=10)
        assert moved.status_code == 301 and moved.headers["location"].startswith("https://127.0.0.1")
        assert moved.headers["location"].endswith("/campagnes?x=1")
        site = httpx.Client(verify=ssl.create_default_context(cafile=proxy.certificate), timeout=10)  # checked
        home = site.get(f"{proxy.https}/")
        assert home.status_code == 200 and '<div id="root">' in home.text
        assert home.headers["strict-transport-security"] == "max-age=31536000"
        assert home.headers["x-frame-options"] == "DENY" and home.headers["x-content-type-options"] == "nosniff"
        assert "img-src 'self' data: blob:" in home.headers["content-security-policy"]
        assert site.get(f"{proxy.https}/_stcore/health").text == "ok"
        grafana = site.get(f"{proxy.https}/grafana/")  # down here (502), but the headers are set
        assert "content-security-policy" not in grafana.headers and grafana.headers["x-frame-options"] == "DENY"
        context = ssl.create_default_context(cafile=proxy.certificate)
        stream = f"wss://localhost:{proxy.https_port}/_stcore/stream"
        limit = int(re.search(r"location = /_stcore/stream \{\s*limit_conn per_address (\d+);",
                              (ROOT / "deploy/nginx/locations.conf").read_text()).group(1))

        async def streams() -> int:
            """Opens limit + 1 streams at once: the last is refused with a 429."""
            opened = []
            try:
                for _ in range(limit):
                    opened.append(await websockets.connect(stream, ssl=context, open_timeout=10))
                try:
                    await websockets.connect(stream, ssl=context, open_timeout=10)
                except websockets.exceptions.InvalidStatus as refused:
                    return refused.response.status_code
                return 101
            finally:
                for ws in opened:
                    await ws.close()

        assert asyncio.run(streams()) == 429
        body = json.dumps({"event_id": "nginx-1", "event_type": "contact.updated",
                           "contact": {"phone": "+24177000111", "firstName": "Awa"}}).encode()
        answer = site.post(f"{proxy.https}/webhooks/respondio", content=body,
                           headers={"X-Webhook-Signature": inbound.sign(body, "clé-nginx"),
                                    "Content-Type": "application/json"})
        assert answer.status_code == 200, answer.text
        refused = site.post(f"{proxy.https}/webhooks/respondio", content=body, headers={"X-Webhook-Signature": "faux"})
        assert refused.status_code == 401
        assert "cnss_" not in site.get(f"{proxy.https}/metrics").text  # not the receiver's metrics
    finally:
        proxy.stop()
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


def test_no_file_watcher_outside_development() -> None:
    """Watching the tree cost about 1.5 s per new session and flooded the log; `make dev` turns it on."""
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text(encoding="utf-8"))
    assert config["server"]["fileWatcherType"] == "none" and config["server"]["runOnSave"] is False
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "STREAMLIT_SERVER_FILE_WATCHER_TYPE=auto" in makefile.split("\ndev:")[1].split("\n\n")[0]
