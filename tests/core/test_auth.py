"""Passwords, sign-in, lockout, session expiry and their audit entries."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from core import auth, users
from core.errors import UserError
from core.models import AuditLog, SignInSource, User
from core.timeutil import utcnow
from tests.factories import PASSWORD, make_user


def actions(session) -> list[str]:  # noqa: ANN001
    return list(session.scalars(select(AuditLog.action).order_by(AuditLog.id)).all())


def test_passwords_are_hashed_with_argon2id() -> None:
    hashed = auth.hash_password(PASSWORD)
    assert hashed.startswith("$argon2id$") and PASSWORD not in hashed
    assert auth.verify_password(hashed, PASSWORD)
    assert not auth.verify_password(hashed, PASSWORD + "x")
    assert not auth.verify_password("not-a-hash", PASSWORD)
    assert auth.hash_password(PASSWORD) != hashed  # salted


@pytest.mark.parametrize("bad, why", [
    ("court1", "au moins 10"),
    ("toutenlettres", "mélanger"),
    ("12345678901", "mélanger"),
    (" espace-au-debut1", "espace"),
])
def test_password_policy(bad: str, why: str) -> None:
    with pytest.raises(UserError, match=why):
        auth.check_password_policy(bad)


def test_sign_in_succeeds_and_is_audited(session) -> None:  # noqa: ANN001
    user = make_user(session, "manager")
    result = auth.authenticate(session, "  MANAGER@test.cnss.ga ", PASSWORD)
    assert result.ok and result.user is not None and result.user.id == user.id
    assert user.last_login_at is not None
    assert actions(session)[-1] == "login"


def test_unknown_email_and_wrong_password_give_the_same_message(session) -> None:  # noqa: ANN001
    make_user(session, "agent")
    unknown = auth.authenticate(session, "nobody@test.cnss.ga", PASSWORD)
    wrong = auth.authenticate(session, "agent@test.cnss.ga", "Mauvais-mot-2026")
    assert not unknown.ok and not wrong.ok
    assert unknown.message == wrong.message == auth.GENERIC_FAILURE
    entries = session.scalars(select(AuditLog).where(AuditLog.action == "login_failed")).all()
    assert [e.details["reason"] for e in entries] == ["unknown_email", "wrong_password"]
    assert entries[0].actor_email == "nobody@test.cnss.ga"


def test_empty_fields_are_refused_in_french(session) -> None:  # noqa: ANN001
    assert auth.authenticate(session, "", "").message.startswith("Saisissez")


def test_five_failures_lock_the_account_for_fifteen_minutes(session) -> None:  # noqa: ANN001
    user = make_user(session, "agent")
    now = utcnow()
    for attempt in range(4):
        result = auth.authenticate(session, user.email, "Mauvais-mot-2026", now=now)
        assert not result.ok and user.locked_until is None, attempt
    result = auth.authenticate(session, user.email, "Mauvais-mot-2026", now=now)
    assert result.message == auth.GENERIC_FAILURE  # the screen says nothing of the lock: the audit does
    assert user.locked_until == now + timedelta(minutes=15)
    # The right password does not open a locked account...
    locked = auth.authenticate(session, user.email, PASSWORD, now=now + timedelta(minutes=14))
    assert not locked.ok and locked.message == auth.GENERIC_FAILURE
    # ...but does once the lock has expired, and the counter starts again.
    assert auth.authenticate(session, user.email, PASSWORD, now=now + timedelta(minutes=15, seconds=1)).ok
    assert user.failed_logins == 0 and user.locked_until is None
    assert actions(session).count("account_locked") == 1
    assert "login_blocked" in actions(session)


def test_success_resets_the_failure_counter(session) -> None:  # noqa: ANN001
    user = make_user(session, "agent")
    for _ in range(4):
        auth.authenticate(session, user.email, "Mauvais-mot-2026")
    assert auth.authenticate(session, user.email, PASSWORD).ok
    for _ in range(4):
        auth.authenticate(session, user.email, "Mauvais-mot-2026")
    assert user.locked_until is None


def test_disabled_account_cannot_sign_in(session) -> None:  # noqa: ANN001
    make_user(session, "admin", email="boss@test.cnss.ga")
    user = make_user(session, "agent")
    users.disable(session, user)
    result = auth.authenticate(session, user.email, PASSWORD)
    assert not result.ok and result.message == auth.GENERIC_FAILURE  # not "désactivé": that is for the audit
    reasons = [e.details.get("reason") for e in session.scalars(select(AuditLog).where(
        AuditLog.action == "login_failed")).all()]
    assert reasons == ["disabled"]


def test_wrong_passwords_at_once_then_the_right_one_finds_the_account_locked(db_url) -> None:  # noqa: ANN001
    """30 wrong passwords in 30 sessions at once, then the right one: counted atomically, the account
    is locked and the right password refused (before, the counter lost updates and let it in)."""
    import threading

    from core import db

    with db.session_scope() as session:
        user_id = make_user(session, "agent").id
        email = session.get(User, user_id).email
    start = threading.Barrier(30)

    def wrong() -> None:
        start.wait()
        with db.session_scope() as session:
            auth.authenticate(session, email, "Mauvais-mot-2026")

    threads = [threading.Thread(target=wrong) for _ in range(30)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with db.session_scope() as session:
        assert not auth.authenticate(session, email, PASSWORD).ok
        locks = session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "account_locked"))
        assert locks >= 1 and session.get(User, user_id).locked_until is not None


def test_session_expires_after_inactivity(session, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("SESSION_TIMEOUT_MINUTES", "30")
    from core.config import reload_settings

    reload_settings()
    user = make_user(session, "supervisor")
    now = utcnow()
    assert auth.check_session(session, user.id, now - timedelta(minutes=29), now=now).valid
    expired = auth.check_session(session, user.id, now - timedelta(minutes=31), now=now)
    assert not expired.valid and expired.reason == "expired"
    assert actions(session)[-1] == "session_expired"
    assert auth.check_session(session, 999_999, now, now=now).reason == "unknown"


def test_session_of_a_disabled_user_ends(session) -> None:  # noqa: ANN001
    make_user(session, "admin", email="boss@test.cnss.ga")
    user = make_user(session, "agent")
    users.disable(session, user)
    assert auth.check_session(session, user.id, utcnow()).reason == "disabled"


def test_a_password_reset_ends_the_sessions_opened_before_it(session) -> None:  # noqa: ANN001
    make_user(session, "admin", email="boss@test.cnss.ga")
    user = make_user(session, "agent")
    signed_in = utcnow()  # signed in after the account was made
    assert auth.check_session(session, user.id, utcnow(), signed_in_at=signed_in).valid
    users.reset_password(session, user, "Nouveau-mot-2026")
    check = auth.check_session(session, user.id, utcnow(), signed_in_at=signed_in)
    assert not check.valid and check.reason == "password_changed"
    assert "reconnecter" in auth.SESSION_MESSAGES[check.reason]
    assert auth.check_session(session, user.id, utcnow(), signed_in_at=utcnow()).valid  # signed in again


# --- throttle per network address ---------------------------------------------------------------

WRONG = "Mauvais-mot-2026"


def throttled_audits(session) -> list[dict]:  # noqa: ANN001
    return [e.details for e in session.scalars(select(AuditLog).where(AuditLog.action == "login_throttled")
                                               .order_by(AuditLog.id)).all()]


def test_failures_from_one_address_make_its_next_attempts_wait_longer(session) -> None:  # noqa: ANN001
    """Three free failures, then 1 s, 2 s, 4 s... before the next attempt from that address, up to
    5 minutes; a throttled attempt is refused before any check (even with the right password), adds
    nothing to the account's counter and writes no audit row (the failure that set the wait did)."""
    user = make_user(session, "agent")
    other = make_user(session, "manager")
    now = utcnow()
    for n in range(3):
        result = auth.authenticate(session, "nobody@test.cnss.ga" if n else user.email, WRONG, source="192.0.2.7",
                                   now=now)
        assert result.message == auth.GENERIC_FAILURE and result.retry_after == 0
    assert throttled_audits(session) == [{"source": "192.0.2.7", "failures": 3, "retry_after": 1}]
    for _ in range(5):
        throttled = auth.authenticate(session, other.email, PASSWORD, source="192.0.2.7", now=now)
        assert not throttled.ok and throttled.retry_after == 1
    assert throttled.message == "Trop de tentatives de connexion depuis ce poste. Réessayez dans 1 seconde."
    assert other.failed_logins == 0 and len(throttled_audits(session)) == 1
    # Another address is not concerned.
    assert auth.authenticate(session, other.email, PASSWORD, source="198.51.100.1", now=now).ok
    waits = []
    at = now
    for _ in range(12):
        at += timedelta(seconds=max(waits[-1] if waits else 1, 1))
        assert auth.authenticate(session, "nobody@test.cnss.ga", WRONG, source="192.0.2.7", now=at).retry_after == 0
        waits.append(auth.authenticate(session, "nobody@test.cnss.ga", WRONG, source="192.0.2.7", now=at).retry_after)
    assert waits[:5] == [2, 4, 8, 16, 32] and max(waits) == auth.MAX_WAIT_SECONDS == waits[-1]
    assert "secondes." in auth.throttled_message(waits[0])
    at += timedelta(seconds=auth.MAX_WAIT_SECONDS)
    assert auth.authenticate(session, other.email, PASSWORD, source="192.0.2.7", now=at).ok
    # A success lets the address try again at once, but does not clear its failures: the next
    # failure waits the longest again.
    assert auth.authenticate(session, "nobody@test.cnss.ga", WRONG, source="192.0.2.7", now=at).retry_after == 0
    assert auth.authenticate(session, "nobody@test.cnss.ga", WRONG, source="192.0.2.7",
                             now=at).retry_after == auth.MAX_WAIT_SECONDS


def test_guesses_mixed_with_sign_ins_of_ones_own_are_still_throttled(session) -> None:  # noqa: ANN001
    """An insider alternates one guess at the administrator and a sign-in with their own account:
    the successes never reset the address, so the guesses slow down to one per 5 minutes (before,
    each success cleared the address: 31 guesses in 9 s, the lock notwithstanding)."""
    admin = make_user(session, "admin")
    insider = make_user(session, "agent")
    at = utcnow()
    guesses = []
    for n in range(12):
        guess = auth.authenticate(session, admin.email, f"Essai-{n}-2026", source="10.0.0.13", now=at)
        assert not guess.ok
        at += timedelta(seconds=auth._wait_for(auth.FREE_FAILURES + n) if n >= auth.FREE_FAILURES - 1 else 0)
        own = auth.authenticate(session, insider.email, PASSWORD, source="10.0.0.13", now=at)
        assert own.ok, n
        guesses.append(at)
    gaps = [(b - a).total_seconds() for a, b in zip(guesses, guesses[1:], strict=False)]
    assert gaps[-3:] == [auth.MAX_WAIT_SECONDS] * 3  # a guess every 5 minutes at best
    guess = auth.authenticate(session, admin.email, "Essai-encore-2026", source="10.0.0.13", now=at)
    assert not guess.ok and guess.retry_after == 0  # (the success let it try once)
    sooner = auth.authenticate(session, admin.email, PASSWORD, source="10.0.0.13", now=at + timedelta(seconds=10))
    assert not sooner.ok and sooner.retry_after == auth.MAX_WAIT_SECONDS - 10


def test_old_failures_are_forgotten_after_the_lockout_window(session) -> None:  # noqa: ANN001
    make_user(session, "agent")
    now = utcnow()
    for _ in range(3):
        auth.authenticate(session, "nobody@test.cnss.ga", WRONG, source="192.0.2.8", now=now)
    later = now + timedelta(minutes=16)
    for _ in range(3):  # counted from one again: three free failures
        assert auth.authenticate(session, "nobody@test.cnss.ga", WRONG, source="192.0.2.8", now=later).retry_after == 0
    assert auth.authenticate(session, "nobody@test.cnss.ga", WRONG, source="192.0.2.8", now=later).retry_after == 1


def test_an_attacker_cannot_lock_the_administrator_out(session) -> None:  # noqa: ANN001
    """Five wrong passwords from the attacker's address lock the account for every address but the
    administrator's own (one they signed in from, that has not failed since)."""
    admin = make_user(session, "admin")
    now = utcnow()
    assert auth.authenticate(session, admin.email, PASSWORD, source="10.1.2.3", now=now - timedelta(days=3)).ok
    at = now
    for _ in range(5):
        result = auth.authenticate(session, admin.email, WRONG, source="203.0.113.66", now=at)
        at += timedelta(seconds=max(result.retry_after, 60))
    session.refresh(admin)
    assert admin.locked_until is not None and admin.locked_until > at
    # The attacker, even with the right password, is refused (after waiting out the throttle).
    assert not auth.authenticate(session, admin.email, PASSWORD, source="203.0.113.66",
                                 now=at + timedelta(minutes=5)).ok
    # So is an address that never signed the administrator in: one guess per new address buys nothing.
    assert not auth.authenticate(session, admin.email, PASSWORD, source="10.7.7.7", now=at).ok
    # The administrator, from their own workstation, signs in despite the lock...
    assert auth.authenticate(session, admin.email, PASSWORD, source="10.1.2.3", now=at).ok
    entry = session.scalars(select(AuditLog).where(AuditLog.action == "login").order_by(AuditLog.id.desc())).first()
    assert entry.details == {"despite_lock": True, "source": "10.1.2.3"}
    session.refresh(admin)
    assert admin.locked_until is not None  # ...and the lock still binds the attacker
    # Once that workstation has failed, it is bound like any other until the lock ends.
    assert not auth.authenticate(session, admin.email, WRONG, source="10.1.2.3", now=at).ok
    assert not auth.authenticate(session, admin.email, PASSWORD, source="10.1.2.3", now=at).ok
    # Without a known address (a local run) the lock binds every attempt, as before.
    assert not auth.authenticate(session, admin.email, PASSWORD, now=at).ok
    sources = {e.details.get("source") for e in session.scalars(select(AuditLog).where(
        AuditLog.action.in_(["login_failed", "login_blocked"]))).all()}
    assert {"203.0.113.66", "10.7.7.7"} <= sources  # the audit says where failures came from


def test_an_unlock_lifts_the_throttle_of_the_users_own_addresses(session) -> None:  # noqa: ANN001
    admin = make_user(session, "admin")
    agent = make_user(session, "agent")
    now = utcnow()
    assert auth.authenticate(session, agent.email, PASSWORD, source="10.2.2.2", now=now - timedelta(days=1)).ok
    at = now
    for _ in range(5):
        at += timedelta(seconds=auth.authenticate(session, agent.email, WRONG, source="10.2.2.2", now=at).retry_after)
        at += timedelta(seconds=auth._wait_for(session.get(SignInSource, "10.2.2.2").failures))
    session.refresh(agent)
    assert agent.locked_until is not None
    wrong_again = auth.authenticate(session, agent.email, WRONG, source="10.2.2.2", now=at)
    assert auth.authenticate(session, agent.email, PASSWORD, source="10.2.2.2", now=at).retry_after > 0
    assert not wrong_again.ok
    users.unlock(session, agent, actor=admin, now=at)
    assert auth.authenticate(session, agent.email, PASSWORD, source="10.2.2.2", now=at).ok


def test_an_over_long_address_costs_no_hash_and_is_counted(session) -> None:  # noqa: ANN001
    """An e-mail longer than any account's (254) is refused at once, counted against the address,
    and audited cut to the column (it used to fail the audit insert and roll the count back)."""
    long_email = "a" * 300 + "@test.cnss.ga"
    now = utcnow()
    for _ in range(3):
        assert auth.authenticate(session, long_email, WRONG, source="10.3.3.3", now=now).message == \
            auth.GENERIC_FAILURE
    session.flush()
    assert auth.authenticate(session, long_email, WRONG, source="10.3.3.3", now=now).retry_after == 1
    assert all(len(e.actor_email) <= 254 for e in session.scalars(select(AuditLog)).all())


def test_attempts_at_once_from_one_address_get_the_free_failures_and_no_more(db_url) -> None:  # noqa: ANN001
    """20 sign-ins at once from one address, each in its own session: each attempt is counted before
    its password is checked, so exactly the three free ones reach a password check; the others are
    refused with the time to wait (before, all 20 were checked)."""
    import threading

    from core import db
    from core.models import SignInSource

    with db.session_scope() as session:
        email = make_user(session, "agent").email
    start = threading.Barrier(20)
    now = utcnow()
    results: list[auth.LoginResult] = []

    def wrong() -> None:
        start.wait()
        with db.session_scope() as session:
            results.append(auth.authenticate(session, email, WRONG, source="192.0.2.99", now=now))

    threads = [threading.Thread(target=wrong) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    with db.session_scope() as session:
        checked = session.scalar(select(func.count()).select_from(AuditLog).where(AuditLog.action == "login_failed"))
        assert checked == auth.FREE_FAILURES == session.get(SignInSource, "192.0.2.99").failures
        assert sorted(r.retry_after for r in results) == [0] * 3 + [1] * 17
        result = auth.authenticate(session, email, PASSWORD, source="192.0.2.99", now=now)
        assert not result.ok and result.retry_after == 1


def test_a_nul_in_the_address_is_a_plain_refusal_and_is_counted(session) -> None:  # noqa: ANN001
    now = utcnow()
    for _ in range(3):
        result = auth.authenticate(session, "agent\x00@test.cnss.ga", WRONG, source="10.4.4.4", now=now)
        assert result.message == auth.GENERIC_FAILURE
    assert auth.authenticate(session, "x\x00@test.cnss.ga", WRONG, source="10.4.4.4", now=now).retry_after == 1
