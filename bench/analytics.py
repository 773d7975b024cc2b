"""Benchmark: the statistics screen on millions of messages (PostgreSQL).

Generates with COPY 1,000,000 contacts, 200 campaigns and 10,000,000 ledger rows with their status
events (sent, delivered, read), builds the summary tables, then prints:
- the time of every query the screen runs (p50 / p95 over repeated runs), for the screen's default
  period (the last 30 days) and for the whole history;
- the full server-side render of the screen (Streamlit AppTest, cache cleared before each run);
- what the summaries cost: building them from scratch, refreshing one changed campaign, and the
  trigger's cost on ledger updates (batches of 500 status changes, trigger on vs off).

    .venv/bin/python -m bench.analytics [--contacts 1000000] [--campaigns 200] [--rows 10000000]
                                        [--repeat 20] [--database URL [--rebuild]] [--keep]
Targets (issue #8): every query p95 <= 500 ms, the screen <= 2 s.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import text

from bench.common import fresh_database
from core import analytics, db, stats
from core.config import reload_settings

AGENCIES = ["Libreville", "Port-Gentil", "Franceville", "Oyem", "Moanda", "Lambaréné", "Mouila", "Tchibanga",
            "Koulamoutou", "Makokou"]
TYPES = ["assuré", "pensionné", "employeur"]
CODES = ["131026", "131049", "131050", "131047", "131051"]
NULL = "\\N"  # COPY's text format for NULL
ROOT = Path(__file__).resolve().parent.parent


def ts(seconds: np.ndarray) -> np.ndarray:
    """Epoch seconds -> 'YYYY-MM-DDTHH:MM:SS+00' strings, vectorized."""
    return np.char.add(np.datetime_as_string(seconds.astype("datetime64[s]"), unit="s"), "+00")


def copy_lines(conn, statement: str, lines) -> None:  # type: ignore[no-untyped-def]  # noqa: ANN001
    with conn.cursor() as cursor, cursor.copy(statement) as copy:
        buffer, size = [], 0
        for line in lines:
            buffer.append(line)
            size += 1
            if size >= 20000:
                copy.write("".join(buffer))
                buffer, size = [], 0
        if buffer:
            copy.write("".join(buffer))


def generate(url: str, contacts: int, n_campaigns: int, rows: int, now: datetime) -> dict[str, float]:
    import psycopg

    rng = np.random.default_rng(241)
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    timings: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        started = time.perf_counter()
        agency = rng.integers(0, len(AGENCIES), contacts)
        kind = rng.integers(0, len(TYPES), contacts)
        consent = np.where(rng.random(contacts) < 0.9, "opted_in", "opted_out")
        copy_lines(conn, "COPY contacts (id, phone, first_name, attributes, consent_status, search_text, created_at, "
                         "updated_at) FROM STDIN",
                   (f"{i + 1}\t+24177{i:07d}\tPrénom{i}\t"
                    f'{{"agence": "{AGENCIES[agency[i]]}", "type_assure": "{TYPES[kind[i]]}"}}\t{consent[i]}\t\t'
                    f"{now.isoformat()}\t{now.isoformat()}\n" for i in range(contacts)))
        conn.execute("SELECT setval(pg_get_serial_sequence('contacts', 'id'), %s)", (contacts,))
        opted_out = np.flatnonzero(consent == "opted_out")[:20000]
        copy_lines(conn, "COPY consent_events (contact_id, status, source, at) FROM STDIN",
                   (f"{c + 1}\topted_out\twhatsapp\t{(now - timedelta(days=int(rng.integers(0, 200)))).isoformat()}\n"
                    for c in opted_out))
        timings["contacts_s"] = time.perf_counter() - started

        with conn.cursor() as cursor:
            cursor.execute("INSERT INTO templates (name, language, category, status, quality, body, buttons, "
                           "variable_mapping, created_at, updated_at) SELECT 'modele_' || i, 'fr', "
                           "(ARRAY['UTILITY','MARKETING','UTILITY','AUTHENTICATION'])[1 + i % 4], 'APPROVED', 'GREEN', "
                           "'Bonjour {{1}}', '[]'::jsonb, '{}'::jsonb, now(), now() FROM generate_series(1, 10) i")
            cursor.execute("INSERT INTO segments (name, kind, rules, created_at, updated_at) SELECT 'Segment ' || i, "
                           "'static', '{}'::jsonb, now(), now() FROM generate_series(1, 20) i")
        per_campaign = rows // n_campaigns
        started = time.perf_counter()
        recipient_id = 0
        starts = []
        with conn.cursor() as cursor:
            for c in range(1, n_campaigns + 1):
                launched = now - timedelta(days=200 * (n_campaigns - c) / n_campaigns, hours=2)
                starts.append(launched)
                cursor.execute(
                    "INSERT INTO campaigns (id, name, status, template_id, variable_mapping, include_segment_ids, "
                    "exclude_segment_ids, launched_at, started_at, completed_at, total_recipients, created_at, "
                    "updated_at) VALUES (%s, %s, 'completed', %s, '{}', %s, '[]', %s, %s, %s, %s, %s, %s)",
                    (c, f"Campagne {c}", 1 + c % 10, json.dumps([1 + c % 20] + ([1 + (c * 7) % 20] if c % 3 == 0
                                                                                 else [])),
                     launched, launched, launched + timedelta(hours=1), per_campaign, launched, launched))
            cursor.execute("SELECT setval(pg_get_serial_sequence('campaigns', 'id'), %s)", (n_campaigns,))

        def ledger_and_events():  # type: ignore[no-untyped-def]
            nonlocal recipient_id
            for c in range(1, n_campaigns + 1):
                n = per_campaign
                base = int(starts[c - 1].timestamp())
                first_contact = (c * 7919) % contacts
                contact_ids = (first_contact + np.arange(n)) % contacts + 1
                sent = base + np.arange(n) // 80  # 80 messages a second
                roll = rng.random(n)
                status = np.where(roll < 0.03, "failed", np.where(roll < 0.13, "sent",
                                                                  np.where(roll < 0.43, "delivered", "read")))
                delivered = sent + rng.integers(2, 600, n)
                read = delivered + rng.integers(30, 7200, n)
                replied = rng.random(n) < 0.05
                ids = recipient_id + 1 + np.arange(n)
                recipient_id += n
                s_sent, s_delivered, s_read = ts(sent), ts(delivered), ts(read)
                code = np.array(CODES)[rng.integers(0, len(CODES), n)]
                lines = []
                events = []
                for i in range(n):
                    st = status[i]
                    failed = st == "failed"
                    d = s_delivered[i] if st in ("delivered", "read") else NULL
                    r = s_read[i] if st == "read" else NULL
                    rep = s_read[i] if (replied[i] and st == "read") else NULL
                    message_id = NULL if failed else str(ids[i])
                    error = code[i] if failed else NULL
                    sent_at = NULL if failed else s_sent[i]
                    failed_at = s_sent[i] if failed else NULL
                    lines.append(f"{ids[i]}\t{c}\t{contact_ids[i]}\t+24177{contact_ids[i] - 1:07d}\t{{}}\t{st}\t1\t"
                                 f"{message_id}\t{error}\t{sent_at}\t{d}\t{r}\t{failed_at}\t{rep}\t{s_sent[i]}\t"
                                 f"{s_sent[i]}\n")
                    if failed:
                        events.append(f"{ids[i]}\t{NULL}\tfailed\t{code[i]}\tprovider\t{s_sent[i]}\t{s_sent[i]}\n")
                        continue
                    events.append(f"{ids[i]}\t{ids[i]}\tsent\t{NULL}\tprovider\t{s_sent[i]}\t{s_sent[i]}\n")
                    if d != NULL:
                        events.append(f"{ids[i]}\t{ids[i]}\tdelivered\t{NULL}\twebhook\t{d}\t{d}\n")
                    if r != NULL:
                        events.append(f"{ids[i]}\t{ids[i]}\tread\t{NULL}\twebhook\t{r}\t{r}\n")
                yield lines, events

        recipients_copied = events_copied = 0
        for lines, events in ledger_and_events():
            copy_lines(conn, "COPY recipients (id, campaign_id, contact_id, phone, parameters, status, attempts, "
                             "provider_message_id, error_code, sent_at, delivered_at, read_at, failed_at, replied_at, "
                             "created_at, updated_at) FROM STDIN", lines)
            copy_lines(conn, "COPY status_events (recipient_id, provider_message_id, status, error_code, source, "
                             "occurred_at, received_at) FROM STDIN", events)
            recipients_copied += len(lines)
            events_copied += len(events)
        conn.execute("SELECT setval(pg_get_serial_sequence('recipients', 'id'), %s)", (recipient_id,))
        timings["ledger_s"] = time.perf_counter() - started
        timings["recipients"] = recipients_copied
        timings["status_events"] = events_copied
        started = time.perf_counter()
        conn.execute("VACUUM ANALYZE")
        timings["vacuum_analyze_s"] = time.perf_counter() - started
    return timings


def screen_render(url: str, repeat: int) -> dict[str, float]:
    """The statistics screen as a supervisor sees it, rendered server-side by AppTest."""
    from streamlit.testing.v1 import AppTest

    from core import users
    from core.timeutil import utcnow

    os.environ["DATABASE_URL"] = url
    os.environ["EMBEDDED_SCHEDULER"] = "false"
    reload_settings()
    with db.session_scope(url) as session:
        user = users.get_user_by_email(session, "bench.superviseur@cnss.ga") or users.create(
            session, email="bench.superviseur@cnss.ga", name="Bench", role="supervisor",
            password="Bench-analytics-2026!")
        user_id = user.id
    samples = []
    for i in range(repeat + 1):
        import streamlit as st

        st.cache_data.clear()
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
        at.session_state["user_id"] = user_id
        at.session_state["last_seen"] = utcnow()
        at.run()
        started = time.perf_counter()
        at.switch_page("pages/analytics.py").run()
        elapsed = time.perf_counter() - started
        assert not at.exception, at.exception
        assert int({m.label: m.value for m in at.metric}["Envoyés"].replace("\u202f", "")) > 0
        if i:  # the first run imports plotly and pandas
            samples.append(elapsed * 1000)
    samples.sort()
    return {"p50_ms": round(statistics.median(samples), 1),
            "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 1), "runs": len(samples)}


def write_costs(url: str) -> dict[str, float]:
    """Batches of 500 status changes (the shape of the webhook drain's statements) with the
    trigger that marks the campaign, then without it; and the refresh of that campaign."""
    out: dict[str, float] = {}
    engine = db.get_engine(url)
    with engine.connect() as conn:
        campaign_id = conn.execute(text("SELECT campaign_id FROM recipients WHERE status = 'delivered' "
                                        "AND campaign_id > (SELECT max(id) - 20 FROM campaigns) "
                                        "GROUP BY campaign_id ORDER BY count(*) DESC LIMIT 1")).scalar()
        ids = conn.execute(text("SELECT id FROM recipients WHERE campaign_id = :c AND status = 'delivered' "
                                "ORDER BY id LIMIT 40000"), {"c": campaign_id}).scalars().all()
    batches = [ids[i:i + 500] for i in range(0, len(ids), 500)]
    statement = text("UPDATE recipients r SET status = 'read', read_at = r.delivered_at + interval '60 seconds', "
                     "updated_at = now() FROM unnest(CAST(:ids AS bigint[])) AS v(id) WHERE r.id = v.id")
    samples: dict[str, list[float]] = {"with_trigger": [], "without_trigger": []}
    for n, batch in enumerate(batches):  # alternating, so that both see the machine in the same state
        label = "with_trigger" if n % 2 == 0 else "without_trigger"
        with engine.begin() as conn:
            if label == "without_trigger":
                conn.execute(text("ALTER TABLE recipients DISABLE TRIGGER recipients_stats_dirty"))
            started = time.perf_counter()
            conn.execute(statement, {"ids": batch})
            samples[label].append((time.perf_counter() - started) * 1000)
            if label == "without_trigger":
                conn.execute(text("ALTER TABLE recipients ENABLE TRIGGER recipients_stats_dirty"))
    for label, values in samples.items():
        out[f"update_500_{label}_ms"] = round(statistics.median(values), 2)
    out["batches_each"] = len(samples["with_trigger"])
    out["trigger_cost_ratio"] = round(out["update_500_with_trigger_ms"] / out["update_500_without_trigger_ms"], 3)
    with db.session_scope(url) as session:
        stats.mark(session, [campaign_id])
    started = time.perf_counter()
    with db.session_scope(url) as session:
        refreshed = stats.refresh(session)
    out["refresh_one_campaign_ms"] = round((time.perf_counter() - started) * 1000, 1)
    out["refreshed"] = len(refreshed)
    return out


def query_times(url: str, filters: analytics.Filters, repeat: int) -> dict[str, dict[str, float]]:
    runs: dict[str, list[float]] = {}
    for i in range(repeat + 2):
        timings: dict[str, float] = {}
        with db.session_scope(url) as session:
            analytics.compute(session, filters, timings=timings)
        if i >= 2:  # warm-up
            for name, seconds in timings.items():
                runs.setdefault(name, []).append(seconds * 1000)
    out = {}
    for name, samples in runs.items():
        samples.sort()
        out[name] = {"p50_ms": round(statistics.median(samples), 1),
                     "p95_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.95))], 1)}
    return out


def run(url: str, args: argparse.Namespace, generated: bool) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    if not generated:
        figures = generate(url, args.contacts, args.campaigns, args.rows, now)
        print("generated with COPY:", json.dumps({k: round(v, 1) for k, v in figures.items()}))
    if not generated or args.rebuild:
        started = time.perf_counter()
        with db.session_scope(url) as session:
            built = stats.rebuild(session)
        print(f"summaries built from scratch for {built} campaigns: {time.perf_counter() - started:.1f} s")
        with db.get_engine(url).connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
    with db.get_engine(url).connect() as conn:
        sizes = conn.execute(text("SELECT (SELECT count(*) FROM recipients), (SELECT count(*) FROM recipient_stats), "
                                  "(SELECT count(*) FROM delay_stats), (SELECT count(*) FROM attribute_stats)")).one()
    print(f"ledger rows {sizes[0]:,}; summary rows: recipient_stats {sizes[1]:,}, delay_stats {sizes[2]:,}, "
          f"attribute_stats {sizes[3]:,}")
    today = date.today()
    for label, filters in (("last 30 days (the screen's default)",
                            analytics.Filters(today - timedelta(days=29), today)),
                           ("whole history (200 days)", analytics.Filters(today - timedelta(days=210), today))):
        times = query_times(url, filters, args.repeat)
        worst = max(v["p95_ms"] for k, v in times.items() if k != "refresh")
        print(f"\nqueries, {label}, {args.repeat} runs:")
        for name, figures in times.items():
            print(f"  {name:<34} p50 {figures['p50_ms']:>8.1f} ms   p95 {figures['p95_ms']:>8.1f} ms")
        print(f"  worst query p95: {worst:.1f} ms (target <= 500 ms)")
    render = screen_render(url, max(3, args.repeat // 4))
    print(f"\nscreen rendered server-side (AppTest, cache cleared): p50 {render['p50_ms']} ms, "
          f"p95 {render['p95_ms']} ms "
          f"over {render['runs']} runs (target <= 2000 ms)")
    print("write costs:", json.dumps(write_costs(url)))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--campaigns", type=int, default=200)
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", help="reuse a database generated by an earlier run (with --keep)")
    parser.add_argument("--keep", action="store_true", help="keep the generated database and print its URL")
    parser.add_argument("--rebuild", action="store_true", help="with --database: build the summaries again")
    args = parser.parse_args()
    if args.database:
        run(args.database, args, generated=True)
        return
    with fresh_database("cnss_bench_analytics", keep=args.keep) as url:
        run(url, args, generated=False)
        if args.keep:
            print(f"kept for --database: {url}")


if __name__ == "__main__":
    main()
