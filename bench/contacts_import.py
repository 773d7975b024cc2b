"""Benchmark: import a realistic, messy 1,000,000-row contact file into PostgreSQL.

Prints rows/s, peak memory of the import process, the ratio to a plain PostgreSQL COPY of the
same rows already normalized (measured in the same run), and the query times of the Contacts
screen on the resulting base: search and a page of results, and a dynamic segment count.

    .venv/bin/python -m bench.contacts_import [--rows 1000000]
Targets (issue #3): import < 60 s, peak memory < 1 GB; search + page < 300 ms; segment count < 1 s.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import text

from bench.common import fresh_database, timed
from core import db, segments
from core.contacts import service
from core.contacts.search import search_text_for
from core.demo import AGENCIES, FIRST_NAMES, LAST_NAMES
from core.phones import normalize

ROOT = Path(__file__).resolve().parent.parent


def messy_phone(rng: random.Random, nsn: str) -> str:
    """One real number written the way spreadsheets write it."""
    a, b, c, d = nsn[:2], nsn[2:4], nsn[4:6], nsn[6:8]
    old = {"77": "07", "74": "04", "66": "06", "65": "05", "62": "02"}.get(a)
    forms = [f"0{a} {b} {c} {d}", f"0{nsn}", f"+241 {a} {b} {c} {d}", f"+241{nsn}", f"00241{nsn}",
             f"(+241) {a}-{b}-{c}-{d}", f"0{a}.{b}.{c}.{d}", f"241{nsn}"]
    if old and a[1] == old[1]:
        forms.append(f"{old} {b} {c} {d}")  # the old 8-digit plan
    return rng.choice(forms)


def generate(path: Path, normalized: Path, rows: int, seed: int = 241) -> dict[str, int]:
    """The messy file to import, and the same rows normalized for the COPY baseline."""
    rng = random.Random(seed)
    kinds = {"valid": 0, "duplicate": 0, "excel": 0, "fixed": 0, "empty": 0, "garbage": 0, "foreign": 0}
    issued: list[str] = []
    seen: set[str | None] = set()
    prefixes = ("60", "62", "65", "66", "74", "76", "77", "77", "74")
    with path.open("w", encoding="cp1252", newline="", errors="replace") as f, \
            normalized.open("w", encoding="utf-8", newline="") as g:
        out, norm = csv.writer(f, delimiter=";"), csv.writer(g)
        out.writerow(["Matricule", "Nom", "Prénom", "Téléphone", "Agence", "Type d'assuré", "Date d'adhésion"])
        serial = 0
        for i in range(rows):
            roll = rng.random()
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            agence = rng.choices([a for a, _ in AGENCIES], weights=[w for _, w in AGENCIES])[0]
            kind_assure = rng.choices(["assuré salarié", "pensionné", "employeur"], weights=[62, 28, 10])[0]
            matricule = f"A{1000000 + i}"
            adhesion = f"{rng.randint(1980, 2025)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
            if roll < 0.03 and issued:
                phone, kind = rng.choice(issued), "duplicate"
            elif roll < 0.035:
                phone, kind = f"2.41077e+{rng.choice(['11', '10'])}", "excel"
            elif roll < 0.045:
                phone, kind = f"011 {rng.randint(10, 99)} {rng.randint(10, 99)} {rng.randint(10, 99)}", "fixed"
            elif roll < 0.05:
                phone, kind = rng.choice(["", " ", "néant"]), "empty"
            elif roll < 0.052:
                phone, kind = rng.choice(["077 28 01", "appeler le soir", "0772801501234"]), "garbage"
            elif roll < 0.07:
                phone, kind = f"+33 6 {serial % 100:02d} {(serial // 100) % 100:02d} {(serial // 10000) % 100:02d} " \
                              f"{(serial // 1000000) % 100:02d}", "foreign"
                serial += 1
            else:
                serial += 1
                nsn = prefixes[serial % len(prefixes)] + f"{serial:06d}"[-6:]
                phone, kind = messy_phone(rng, nsn), "valid"
                if serial < 900_000 and len(issued) < 50_000:
                    issued.append(phone)
            kinds[kind] += 1
            out.writerow([matricule, last, first, phone, agence, kind_assure, adhesion])
            result = normalize(phone)
            if result.ok and result.e164 not in seen:
                seen.add(result.e164)
                attrs = {"matricule": matricule, "agence": agence, "type_d_assure": kind_assure,
                         "date_d_adhesion": adhesion}
                norm.writerow([result.e164, first, last, json.dumps(attrs),
                               search_text_for(first, last, result.e164, attrs)])
    return kinds


def import_with_cli(url: str, path: Path) -> tuple[dict, float, float]:
    env = dict(os.environ, DATABASE_URL=url, LOG_LEVEL="INFO")
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "core", "contacts", "import", str(path), "--json",
                           "--consent", "opted_in"], cwd=ROOT, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        raise SystemExit(f"import failed: {proc.stderr[-2000:]}")
    for line in proc.stderr.splitlines():
        if "import phases" in line:
            print("  " + line.split(": ", 1)[-1])
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return json.loads(proc.stdout), seconds, peak_mb


def copy_baseline(normalized: Path) -> float:
    """A plain COPY of the already-normalized rows into the same table, indexes included."""
    with fresh_database("cnss_bench_copy") as url:
        engine = db.get_engine(url)
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute("ALTER TABLE contacts ALTER COLUMN created_at SET DEFAULT now(), "
                           "ALTER COLUMN updated_at SET DEFAULT now()")
            raw.commit()
            started = time.perf_counter()
            with cursor.copy("COPY contacts (phone, first_name, last_name, attributes, search_text) "
                             "FROM STDIN WITH (FORMAT csv)") as copy, normalized.open("rb") as f:
                while chunk := f.read(1 << 20):
                    copy.write(chunk)
            raw.commit()
            return time.perf_counter() - started
        finally:
            raw.close()


def screen_queries(url: str) -> dict[str, dict[str, float]]:
    results = {}
    with db.session_scope(url) as session:
        # A number from the middle of the file, typed the way an agent would.
        total = session.scalar(text("SELECT count(*) FROM contacts"))
        phone = session.scalar(text("SELECT phone FROM contacts WHERE phone LIKE '+24177%' ORDER BY id "
                                    "OFFSET :n LIMIT 1"), {"n": total // 20})
        typed = f"0{phone[4:6]} {phone[6:8]} {phone[8:10]} {phone[10:12]}"
        cases = {
            "search phone (typed 0XX XX XX XX) + page": service.SearchQuery(text=typed),
            "search name 'nguema' + page": service.SearchQuery(text="nguema"),
            "search first + last name 'sylvie mintsa'": service.SearchQuery(text="sylvie mintsa"),
            "search attribute 'A1500000' (matricule)": service.SearchQuery(text="A1500000"),
            "search partial digits '280150'": service.SearchQuery(text="280150"),
            "no filter, page 200": service.SearchQuery(),
            "consent filter + name": service.SearchQuery(text="ondo", consent="opted_in"),
        }
        results["counts by consent (screen header)"] = timed(lambda: service.counts(session), repeat=15)
        for label, query in cases.items():
            page = 200 if "page 200" in label else 0
            results[label] = timed(lambda q=query, p=page: service.search(session, q, page=p, page_size=50), repeat=15)
        rules = {"match": "all", "rules": [
            {"field": "attribute:type_d_assure", "operator": "equals", "value": "pensionné"},
            {"field": "attribute:agence", "operator": "equals", "value": "Port-Gentil"}]}
        results["dynamic segment count (2 attribute rules)"] = timed(
            lambda: segments.preview_rules(session, rules, sample=10), repeat=5, warmup=1)
        rules_or = {"match": "any", "rules": [
            {"field": "attribute:date_d_adhesion", "operator": "before", "value": "1985-01-01"},
            {"match": "all", "rules": [{"field": "attribute:agence", "operator": "in", "value": "Oyem, Mouila"},
                                       {"field": "last_name", "operator": "starts_with", "value": "M"}]}]}
        results["dynamic segment count (OR of groups)"] = timed(
            lambda: segments.preview_rules(session, rules_or, sample=10), repeat=5, warmup=1)
        results["_counts"] = {"matching_2_rules": segments.preview_rules(session, rules).count}  # type: ignore[dict-item]
    return results


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="cnss-bench-"))
    messy, normalized = workdir / "contacts.csv", workdir / "normalized.csv"
    started = time.perf_counter()
    kinds = generate(messy, normalized, args.rows)
    print(f"generated {args.rows:,} rows ({messy.stat().st_size / 1e6:.0f} MB, cp1252, ';') in "
          f"{time.perf_counter() - started:.1f} s: {kinds}")

    copy_seconds = copy_baseline(normalized)
    with fresh_database() as url:
        summary, seconds, peak_mb = import_with_cli(url, messy)
        print(f"import: {json.dumps(summary)}")
        print(f"import end to end (process start to commit): {seconds:.1f} s, {args.rows / seconds:,.0f} rows/s, "
              f"peak memory {peak_mb:,.0f} MB")
        print(f"plain COPY of the {summary['created']:,} normalized rows: {copy_seconds:.1f} s "
              f"({summary['created'] / copy_seconds:,.0f} rows/s); import / COPY time ratio: "
              f"{seconds / copy_seconds:.2f}")
        print("Contacts screen queries right after the import (the importer ran ANALYZE):")
        for label, figures in screen_queries(url).items():
            print(f"  {label}: {figures}")
        engine = db.get_engine(url).execution_options(isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("VACUUM ANALYZE contacts"))
        print("The same once autovacuum has passed (VACUUM ANALYZE):")
        for label, figures in screen_queries(url).items():
            print(f"  {label}: {figures}")
    for f in (messy, normalized):
        f.unlink(missing_ok=True)
    workdir.rmdir()


if __name__ == "__main__":
    main()
