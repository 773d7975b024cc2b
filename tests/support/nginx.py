"""nginx started here with deploy/nginx as docker-compose mounts it: upstreams pointed at loopback,
ports 80/443 at free ports, the certificate written by the image's own first-start script."""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import free_port, wait_until_answers

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy/nginx/self-signed-certificate.sh"


@dataclass
class Proxy:
    process: subprocess.Popen[bytes]
    http_port: int
    https_port: int
    tls_dir: Path

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def https(self) -> str:  # the certificate's name, so that it can be verified
        return f"https://localhost:{self.https_port}"

    @property
    def certificate(self) -> str:
        return str(self.tls_dir / "fullchain.pem")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def self_signed(tls_dir: Path, name: str = "localhost") -> subprocess.CompletedProcess[str]:
    tls_dir.mkdir(parents=True, exist_ok=True)
    return subprocess.run(["sh", str(SCRIPT)], env={**os.environ, "TLS_DIR": str(tls_dir), "TLS_SERVER_NAME": name},
                          capture_output=True, text=True, timeout=60, check=True)


def start_nginx(nginx: str, work: Path, *, app_port: int, webhooks_port: int, grafana_port: int | None = None) -> Proxy:
    tls_dir = work / "tls"
    self_signed(tls_dir)
    http_port, https_port = free_port(), free_port()
    conf = (ROOT / "deploy/nginx/nginx.conf").read_text()
    conf = (conf.replace("server app:8501;", f"server 127.0.0.1:{app_port};")
            .replace("server webhooks:8000;", f"server 127.0.0.1:{webhooks_port};")
            .replace("server grafana:3000;", f"server 127.0.0.1:{grafana_port or free_port()};")
            .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
            .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;")
            .replace("/etc/nginx/tls/", f"{tls_dir}/")
            .replace("/etc/nginx/cnss-locations.conf", str(ROOT / "deploy/nginx/locations.conf"))
            .replace("pid /tmp/nginx.pid;", f"pid {work}/nginx.pid;")
            .replace("/tmp/nginx-", f"{work}/nginx-"))
    conf = conf.replace("events {", f"error_log {work}/error.log;\nevents {{", 1)
    (work / "nginx.conf").write_text(conf)
    check = subprocess.run([nginx, "-t", "-c", str(work / "nginx.conf"), "-p", str(work)],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr
    process = subprocess.Popen([nginx, "-c", str(work / "nginx.conf"), "-p", str(work), "-g", "daemon off;"],
                               stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    proxy = Proxy(process, http_port, https_port, tls_dir)
    if wait_until_answers(f"{proxy.http}/nginx-health", "ok\n", timeout=10, alive=lambda: process.poll() is None):
        return proxy
    proxy.stop()
    raise AssertionError("nginx did not start: " + (work / "error.log").read_text())
