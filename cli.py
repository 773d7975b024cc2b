"""The command line: `python -m core ...` (its name for users; `python cli.py ...` is the same).
Every reporting subcommand accepts `--json`. It sits above the domains, so it may reach the workers
(a campaign run from here in embedded mode) and the knowledge base."""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select

from core import campaigns, db, demo, queue, respondio, templates, users
from core.config import get_settings
from core.contacts import importer
from core.contacts.reader import open_table
from core.errors import UserError
from core.logs import setup_logging
from core.models import Segment, Template
from core.timeutil import local_tz
from workers.scheduler import tick

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2
log = logging.getLogger("core.cli")


def _emit(args: argparse.Namespace, data: dict[str, Any], text: str) -> None:
    print(json.dumps(data, ensure_ascii=False, default=str) if getattr(args, "json", False) else text)


def _read_new_password(args: argparse.Namespace) -> str:
    if getattr(args, "password_stdin", False):
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = os.environ.get("CNSS_NEW_PASSWORD", "")
    if not password:
        raise UserError("No password given: use --password-stdin or set CNSS_NEW_PASSWORD.")
    return password


def _user_dict(user: Any) -> dict[str, Any]:
    return {"id": user.id, "email": user.email, "name": user.name, "role": user.role,
            "active": user.is_active, "last_login_at": user.last_login_at}


# --- handlers ---------------------------------------------------------------------------------


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    before = db.current_revision()
    head = db.upgrade()
    _emit(args, {"from": before, "to": head, "changed": before != head},
          f"Database at revision {head}" + ("" if before != head else " (already up to date)"))
    return EXIT_OK


def cmd_users_create(args: argparse.Namespace) -> int:
    password = _read_new_password(args)
    with db.session_scope() as session:
        user = users.create(session, email=args.email, name=args.name, role=args.role, password=password)
        data = _user_dict(user)
    _emit(args, data, f"Created {data['role']} {data['email']} (id {data['id']})")
    return EXIT_OK


def cmd_users_list(args: argparse.Namespace) -> int:
    with db.session_scope() as session:
        rows = [_user_dict(u) for u in users.list_all(session)]
    lines = [f"{r['id']:>4}  {r['email']:<32} {r['role']:<10} {'active' if r['active'] else 'disabled'}  {r['name']}"
             for r in rows]
    _emit(args, {"users": rows, "count": len(rows)}, "\n".join(lines) if lines else "No users.")
    return EXIT_OK


def _user_action(action: Callable[..., Any], verb: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        with db.session_scope() as session:
            user = action(session, users.get_by_email(session, args.email))
            data = _user_dict(user)
        _emit(args, data, f"{verb} {data['email']}")
        return EXIT_OK

    return handler


def cmd_users_reset_password(args: argparse.Namespace) -> int:
    password = _read_new_password(args)
    with db.session_scope() as session:
        user = users.reset_password(session, users.get_by_email(session, args.email), password)
        data = _user_dict(user)
    _emit(args, data, f"Password reset for {data['email']}")
    return EXIT_OK


def cmd_contacts_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UserError(f"File not found: {path}")
    table = open_table(path)
    table.close()
    mapping = importer.parse_map_option(args.map or [], table.header)
    options = importer.ImportOptions(mapping=mapping, update_existing=args.update_existing, segment=args.segment,
                                     consent=args.consent, source="import")
    with db.session_scope() as session:
        result = importer.import_file(session, path, options)
    if result.rejects_csv is not None:
        if args.rejects:
            shutil.move(str(result.rejects_csv), args.rejects)
        else:
            result.rejects_csv.unlink(missing_ok=True)
    data = result.summary()
    lines = [f"{k}: {v}" for k, v in data.items() if k != "rejected_by_reason"]
    lines += [f"  rejected ({reason}): {n}" for reason, n in data["rejected_by_reason"].items()]
    lines.append(f"{result.seconds:.1f} s")
    log.info("import phases: %s", {k: round(v, 2) for k, v in result.phases.items()})
    _emit(args, data, "\n".join(lines))
    return EXIT_OK


def cmd_templates_import(args: argparse.Namespace) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise UserError(f"File not found: {path}")
    with db.session_scope() as session:
        report = templates.import_json(session, path.read_text(encoding="utf-8-sig"))
    data = report.summary()
    lines = [f"created: {report.created}", f"updated: {report.updated}", f"refused: {len(report.refused)}"]
    for item in report.refused:
        reasons = "; ".join(m for msgs in item["problems"].values() for m in msgs)
        lines.append(f"  #{item['index']} {item['name'] or '?'}: {reasons}")
    _emit(args, data, "\n".join(lines))
    return EXIT_OK if not report.refused else EXIT_ERROR


def cmd_templates_export(args: argparse.Namespace) -> int:
    with db.session_scope() as session:
        text = templates.export_json(session)
    Path(args.file).write_text(text, encoding="utf-8")
    count = len(json.loads(text))
    _emit(args, {"exported": count, "file": args.file}, f"Exported {count} templates to {args.file}")
    return EXIT_OK


def cmd_templates_sync(args: argparse.Namespace) -> int:
    with respondio.opened() as provider:
        if provider.name == "sandbox":
            raise UserError("No Respond.io token configured (RESPONDIO_API_TOKEN): nothing to sync in the sandbox.")
        try:
            remote = provider.list_templates()
        except respondio.ProviderError as err:
            raise UserError(f"Respond.io: {err}") from err
    with db.session_scope() as session:
        report = templates.sync(session, remote)
    data = report.summary()
    _emit(args, data, ", ".join(f"{k}: {v}" for k, v in data.items()))
    return EXIT_OK


def _segment_ids(session: Any, names: list[str] | None) -> list[int]:
    ids = []
    for name in names or []:
        segment_id = session.scalar(select(Segment.id).where(Segment.name == name))
        if segment_id is None and name.isdigit():
            segment_id = session.scalar(select(Segment.id).where(Segment.id == int(name)))
        if segment_id is None:
            raise UserError(f"Segment not found: {name}")
        ids.append(segment_id)
    return ids


def cmd_campaigns_create(args: argparse.Namespace) -> int:
    scheduled = None
    if args.at:
        try:
            scheduled = datetime.fromisoformat(args.at)
        except ValueError:
            raise UserError(f"--at expects an ISO date and time, got {args.at!r}") from None
        if scheduled.tzinfo is None:
            scheduled = scheduled.replace(tzinfo=local_tz())  # Africa/Libreville unless said otherwise
    with db.session_scope() as session:
        template = session.scalar(select(Template).where(Template.name == args.template).order_by(Template.id))
        if template is None:
            raise UserError(f"Template not found: {args.template}")
        campaign = campaigns.create(session, campaigns.CampaignInput(
            name=args.name, template_id=template.id, include_segment_ids=_segment_ids(session, args.segment),
            exclude_segment_ids=_segment_ids(session, args.exclude_segment), rate_limit=args.rate,
            scheduled_at=scheduled, quiet_hours=args.quiet_hours))
        estimate = campaigns.estimate(session, campaign)
        data = {"id": campaign.id, "name": campaign.name, "status": campaign.status, "template": template.name,
                "scheduled_at": campaign.scheduled_at, "rate": estimate.rate,
                "audience": estimate.audience.reachable, "excluded_opted_out": estimate.audience.opted_out,
                "estimated_cost_fcfa": round(estimate.cost_fcfa), "estimated_seconds": round(estimate.duration_seconds)}
    _emit(args, data, f"Created campaign {data['id']} ({data['audience']} recipients, "
                      f"~{data['estimated_cost_fcfa']} FCFA, ~{data['estimated_seconds']} s)")
    return EXIT_OK


def _campaign_action(action: str) -> Callable[[argparse.Namespace], int]:
    def handler(args: argparse.Namespace) -> int:
        with db.session_scope() as session:
            campaign = campaigns.get(session, args.id)
            getattr(campaigns, action)(session, campaign)
            data = {"id": campaign.id, "status": campaign.status, "total": campaign.total_recipients}
        if action in ("launch", "resume"):
            if not queue.uses_redis():
                # Embedded mode: nothing else is running, so send from here until done or stopped.
                _run_embedded_until_settled(args.id, tick, get_settings().scheduler_interval_seconds)
                with db.session_scope() as session:
                    data["status"] = campaigns.get(session, args.id).status
        _emit(args, data, f"Campaign {data['id']}: {data['status']}")
        return EXIT_OK

    return handler


def _run_embedded_until_settled(campaign_id: int, tick: Callable[[], Any], interval: float) -> None:
    while True:
        tick()
        with db.session_scope() as session:
            if campaigns.get(session, campaign_id).status != "running":
                return
        time.sleep(min(interval, 1.0))


def cmd_campaigns_status(args: argparse.Namespace) -> int:
    with db.session_scope() as session:
        data = campaigns.progress(session, args.id).as_dict()
    _emit(args, data, ", ".join(f"{k}: {v}" for k, v in data.items()))
    return EXIT_OK


def cmd_demo_seed(args: argparse.Namespace) -> int:
    with db.session_scope() as session:
        result = demo.seed(session, contacts=args.contacts)
    data = result.as_dict()
    if not args.no_knowledge_base:
        from rag import kb  # here, not at the top: 2 s of imports (Chroma, LangChain) the other commands skip

        with db.session_scope() as session:
            data["kb_documents_added"] = kb.seed_demo(session)
    lines = []
    if result.users:
        lines.append("Demo accounts created. Passwords are shown this once only:")
        lines += [f"  {u['role']:<10} {u['email']:<28} {u['password']}" for u in result.users]
    if result.seeded:
        lines.append(f"Demo data loaded: {result.contacts} contacts, {result.segments} segments, "
                     f"{result.templates} templates, {result.campaigns} campaigns, {result.recipients} recipients, "
                     f"{result.conversations} conversations.")
    else:
        lines.append("Demo data already present: nothing added. "
                     "Forgot a password? python -m core users reset-password EMAIL --password-stdin")
    if data.get("kb_documents_added"):
        lines.append(f"Demo knowledge base indexed: {data['kb_documents_added']} documents.")
    _emit(args, data, "\n".join(lines))
    return EXIT_OK


# --- parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m core", description="CNSS WhatsApp command line")
    sub = parser.add_subparsers(dest="group", required=True)

    def json_flag(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument("--json", action="store_true", help="print one JSON object")
        return p

    p_db = sub.add_parser("db", help="database schema").add_subparsers(dest="command", required=True)
    json_flag(p_db.add_parser("upgrade", help="apply pending migrations")).set_defaults(func=cmd_db_upgrade)

    p_users = sub.add_parser("users", help="user accounts").add_subparsers(dest="command", required=True)
    create = json_flag(p_users.add_parser("create", help="create a user (password from stdin or CNSS_NEW_PASSWORD)"))
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True)
    create.add_argument("--role", required=True, choices=["admin", "manager", "supervisor", "agent"])
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(func=cmd_users_create)
    json_flag(p_users.add_parser("list", help="list users")).set_defaults(func=cmd_users_list)
    for name, action, verb in (("disable", users.disable, "Disabled"), ("enable", users.enable, "Enabled")):
        p = json_flag(p_users.add_parser(name, help=f"{name} a user"))
        p.add_argument("email")
        p.set_defaults(func=_user_action(action, verb))
    reset = json_flag(p_users.add_parser("reset-password", help="set a new password and unlock the account"))
    reset.add_argument("email")
    reset.add_argument("--password-stdin", action="store_true")
    reset.set_defaults(func=cmd_users_reset_password)

    p_contacts = sub.add_parser("contacts", help="contacts").add_subparsers(dest="command", required=True)
    imp = json_flag(p_contacts.add_parser("import", help="import a CSV or XLSX file, all or nothing"))
    imp.add_argument("file")
    imp.add_argument("--segment", help="add every imported contact to this static segment (created if missing)")
    imp.add_argument("--update-existing", action="store_true", help="update contacts already in the base")
    imp.add_argument("--map", action="append", metavar="COLUMN=TARGET",
                     help="phone|first_name|last_name|language|consent|attribute[:key]|ignore (repeatable)")
    imp.add_argument("--consent", default="unknown", choices=["unknown", "opted_in", "opted_out"],
                     help="consent of new contacts when the file has no consent column")
    imp.add_argument("--rejects", metavar="FILE", help="write the rejected rows with their reasons to FILE (CSV)")
    imp.set_defaults(func=cmd_contacts_import)

    p_tpl = sub.add_parser("templates", help="WhatsApp templates").add_subparsers(dest="command", required=True)
    t_imp = json_flag(p_tpl.add_parser("import", help="import templates from a JSON file (invalid ones refused)"))
    t_imp.add_argument("file")
    t_imp.set_defaults(func=cmd_templates_import)
    t_exp = json_flag(p_tpl.add_parser("export", help="export every template to a JSON file"))
    t_exp.add_argument("file")
    t_exp.set_defaults(func=cmd_templates_export)
    json_flag(p_tpl.add_parser("sync", help="update templates from the Respond.io channel")).set_defaults(
        func=cmd_templates_sync)

    p_camp = sub.add_parser("campaigns", help="campaigns").add_subparsers(dest="command", required=True)
    c_new = json_flag(p_camp.add_parser("create", help="create a draft campaign"))
    c_new.add_argument("--name", required=True)
    c_new.add_argument("--template", required=True, help="name of an APPROVED template")
    c_new.add_argument("--segment", action="append", required=True, help="segment to include (name or id; repeatable)")
    c_new.add_argument("--exclude-segment", action="append", help="segment to exclude (repeatable)")
    c_new.add_argument("--rate", type=int, help="messages per second (default: the number's limit)")
    c_new.add_argument("--at", help="start at this ISO date-time (Africa/Libreville unless an offset is given)")
    c_new.add_argument("--quiet-hours", default="20:00-08:00", help="HH:MM-HH:MM or none (default 20:00-08:00)")
    c_new.set_defaults(func=cmd_campaigns_create)
    for step, help_text in (("launch", "launch a draft (now, or at its scheduled time)"), ("pause", "pause"),
                            ("resume", "resume a paused campaign"), ("cancel", "cancel: pending rows stay unsent")):
        p = json_flag(p_camp.add_parser(step, help=help_text))
        p.add_argument("id", type=int)
        p.set_defaults(func=_campaign_action(step))
    c_status = json_flag(p_camp.add_parser("status", help="progress counts"))
    c_status.add_argument("id", type=int)
    c_status.set_defaults(func=cmd_campaigns_status)

    p_demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="command", required=True)
    seed = json_flag(p_demo.add_parser("seed", help="load the demo data set (idempotent)"))
    seed.add_argument("--contacts", type=int, default=3000, help="number of demo contacts (default 3000)")
    seed.add_argument("--no-knowledge-base", action="store_true", help="skip indexing the demo knowledge base")
    seed.set_defaults(func=cmd_demo_seed)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    setup_logging()
    try:
        if args.func is not cmd_db_upgrade:
            db.ensure_schema()
        return int(args.func(args))
    except UserError as err:
        message = str(err)
    except Exception:  # a bug or an outage: the traceback goes to the log, the user gets one line
        log.exception("Command %s failed", " ".join(sys.argv[1:3]))
        message = "unexpected error, nothing was changed (details in the log above)"
    if getattr(args, "json", False):
        print(json.dumps({"error": message}, ensure_ascii=False))
    print(f"error: {message}", file=sys.stderr)
    return EXIT_ERROR


if __name__ == "__main__":
    sys.exit(main())
