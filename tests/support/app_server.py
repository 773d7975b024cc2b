"""The app as a user gets it from `make run`: the embedded default (SQLite under a data folder,
jobs in the app's process, the sandbox provider, the bundled embedding model), the demo data and
knowledge base loaded by the real commands, and `streamlit run app.py` on a free loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.support.servers import free_port, wait_until_answers

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class RunningApp:
    base: str
    port: int
    database_url: str
    data_dir: Path
    env: dict[str, str]
    passwords: dict[str, str] = field(default_factory=dict)  # email -> one-time demo password
    proc: subprocess.Popen | None = None
    log: Path | None = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()


def start_app(folder: Path, *, contacts: int = 200) -> RunningApp:
    data_dir = folder / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    database_url = f"sqlite:///{data_dir / 'cnss.db'}"
    env = {key: value for key, value in os.environ.items()
           if key not in ("REDIS_URL", "RESPONDIO_API_TOKEN", "OPENAI_API_KEY", "OPENAI_BASE_URL")}
    env.update({"DATABASE_URL": database_url, "DATA_DIR": str(data_dir), "EMBEDDED_SCHEDULER": "true",
                "OUTBOX_DELIVER_AFTER_COMMIT": "true",
                "SCHEDULER_INTERVAL_SECONDS": "1", "STATUS_POLL_DELAY_SECONDS": "1", "STATUS_POLL_RATE": "50",
                "LOG_LEVEL": "INFO", "HF_HUB_OFFLINE": "1", "RAG_WARM_UP": "true",
                # Campaigns of more than 100 people are approved by a second person (tests/e2e/test_approval.py);
                # the journey's campaign of 5 leaves at once.
                "CAMPAIGN_APPROVAL": "100"})
    run = {"cwd": ROOT, "env": env, "capture_output": True, "text": True, "timeout": 600}
    upgraded = subprocess.run([sys.executable, "-m", "core", "db", "upgrade"], **run)
    assert upgraded.returncode == 0, upgraded.stderr
    seeded = subprocess.run([sys.executable, "-m", "core", "demo", "seed", "--contacts", str(contacts), "--json"],
                            **run)
    assert seeded.returncode == 0, seeded.stderr
    passwords = {u["email"]: u["password"] for u in json.loads(seeded.stdout)["users"]}
    port = free_port()
    log = folder / "streamlit.log"
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.address", "127.0.0.1", "--server.headless", "true",
                             "--browser.gatherUsageStats", "false"], cwd=ROOT, env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT)
    app = RunningApp(f"http://127.0.0.1:{port}", port, database_url, data_dir, env, passwords, proc, log)
    if wait_until_answers(f"{app.base}/_stcore/health", "ok", timeout=120, pause=0.2,
                          alive=lambda: proc.poll() is None):
        return app
    if proc.poll() is not None:
        raise RuntimeError(f"streamlit exited: {log.read_text()[-3000:]}")
    app.stop()
    raise RuntimeError(f"streamlit did not start: {log.read_text()[-3000:]}")
