"""`python -m workers [--burst] [--queues ...] [--no-scheduler] [--metrics-port P]`: an RQ worker with
the scheduler, serving its Prometheus metrics.

With REDIS_URL unset it runs the embedded equivalent: the scheduler and the jobs in this process."""

from __future__ import annotations

import argparse
import gc
import logging
import signal
import sys
import threading
import time

from core import db, exporter, queue
from core.config import get_settings
from core.logs import setup_logging
from workers.scheduler import tick

log = logging.getLogger("workers")


def scheduler_loop(stop: threading.Event) -> None:
    interval = get_settings().scheduler_interval_seconds
    while not stop.is_set():
        try:
            tick()
        except Exception:
            log.exception("Scheduler tick failed")
        stop.wait(interval)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m workers", description="CNSS WhatsApp background worker")
    parser.add_argument("--burst", action="store_true", help="stop when there is nothing left to do")
    parser.add_argument("--queues", nargs="+", default=[queue.DEFAULT_QUEUE])
    parser.add_argument("--no-scheduler", action="store_true", help="do not run the scheduler in this worker")
    parser.add_argument("--name", help="worker name (default: RQ's)")
    parser.add_argument("--metrics-port", type=int, default=get_settings().worker_metrics_port,
                        help="serve Prometheus metrics on this port (0: not at all)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    db.ensure_schema()
    exporter.serve(args.metrics_port)
    # What is loaded by now lives as long as the process: out of the collector's way, so that a full
    # collection (100,000 objects, tens of milliseconds with every sender stopped) scans only the rest.
    gc.freeze()
    if not args.burst and get_settings().rag_warm_up:
        # A long-lived worker answers people: the chatbot is loaded before it takes any job (a few
        # seconds at start, rather than the first person's wait), and never alongside a campaign's
        # sending (loading torch in a thread beside a dispatcher slowed its sends into timeouts).
        # Here, not at the top: chromadb and torch only in a worker that answers.
        from rag import kb

        kb.warm_up()
    stop = threading.Event()
    if not args.no_scheduler:
        threading.Thread(target=scheduler_loop, args=(stop,), name="scheduler", daemon=True).start()
    if not queue.uses_redis():
        log.info("REDIS_URL is not set: running jobs in this process")
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        try:
            while not stop.is_set():
                time.sleep(1)
                if args.burst:
                    break
        except KeyboardInterrupt:
            pass
        stop.set()
        return 0
    # Here, not at the top: rq is loaded only with Redis: the embedded mode never needs it.
    from rq import Queue, SimpleWorker


    connection = queue.redis_connection()
    if args.burst:
        tick()
    # Jobs run in this process rather than in a fork per job: the metrics of a job stay with the
    # process that serves them, and the chatbot's model is loaded once, not once per job.
    worker = SimpleWorker([Queue(name, connection=connection) for name in args.queues], connection=connection,
                          name=args.name)
    try:
        worker.work(burst=args.burst, with_scheduler=False, logging_level=get_settings().log_level)
    finally:
        stop.set()
    return 0


if __name__ == "__main__":
    sys.exit(main())
