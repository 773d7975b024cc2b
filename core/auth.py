"""Passwords, sign-in with lockout, and session expiry."""

from __future__ import annotations

import logging
import math
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.orm import Session

from core import audit, db
from core.config import get_settings
from core.errors import UserError
from core.models import KnownSignInAddress, SignInSource, User
from core.timeutil import utcnow

log = logging.getLogger(__name__)

MIN_PASSWORD_LENGTH = 10
_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
# Verified against when the e-mail is unknown, so that a wrong e-mail costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash("not-a-real-password-used-for-timing")

# Every refusal reads the same (wrong e-mail, wrong password, locked or disabled account): what happened
# goes to the audit log, so that the screen tells an attacker nothing about the accounts.
GENERIC_FAILURE = ("Connexion refusée : adresse e-mail ou mot de passe incorrect, ou compte verrouillé ou désactivé. "
                   "Réessayez plus tard ou contactez un administrateur.")
# An argon2 check takes 64 MiB and a core's time: at most this many at once in a process, so that a
# burst of sign-in attempts cannot exhaust the machine's memory.
_HASH_SLOTS = threading.BoundedSemaphore(2)
# Failed sign-ins from one network address (any account, known or not) before the next attempt from
# there must wait; the wait then doubles with each failure, up to MAX_WAIT_SECONDS. It costs a
# person who mistyped nothing, makes guessing from one place slow (whatever accounts it tries, and
# however it mixes guesses with sign-ins of its own), and keeps an attacker from locking an account
# at will: an account locked by failures still opens, with the right password, from an address its
# user has signed in from before and that has not failed since (the administrator's workstation).
FREE_FAILURES = 3
MAX_WAIT_SECONDS = 300
KNOWN_ADDRESS_DAYS = 90  # how long an address a user signed in from stays theirs


def check_password_policy(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise UserError(f"Le mot de passe doit contenir au moins {MIN_PASSWORD_LENGTH} caractères.")
    if password.strip() != password or not password.strip():
        raise UserError("Le mot de passe ne doit pas commencer ni finir par un espace.")
    if password.isdigit() or password.isalpha():
        raise UserError("Le mot de passe doit mélanger lettres et chiffres ou symboles.")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    with _HASH_SLOTS:
        try:
            return _hasher.verify(password_hash, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False


def normalize_email(email: str) -> str:
    # (NUL is no character of an address, and PostgreSQL refuses it in text: it would end the attempt
    # in an error, uncounted, instead of a refusal.)
    return email.replace("\x00", "").strip().lower()


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalar(select(User).where(func.lower(User.email) == normalize_email(email)))


@dataclass(frozen=True)
class LoginResult:
    ok: bool
    message: str
    user: User | None = None
    retry_after: int = 0  # seconds before this address may try again (throttled)


def throttled_message(seconds: int) -> str:
    return (f"Trop de tentatives de connexion depuis ce poste. Réessayez dans {seconds} seconde"
            f"{'s' if seconds > 1 else ''}.")


def _wait_for(failures: int) -> int:
    return 0 if failures < FREE_FAILURES else min(2 ** (failures - FREE_FAILURES), MAX_WAIT_SECONDS)


def _reserve(session: Session, source: str, now: datetime) -> int | None:
    """Count this attempt against the address before anything is checked, in one statement: the
    count including it, or None when the address must wait. Attempts at once from one address
    queue on its row (PostgreSQL) or the database (SQLite), so each sees the ones before it: a
    burst gets the free failures and no more. A success gives its count back (`_refund`)."""
    window_start = now - timedelta(minutes=get_settings().lockout_minutes)
    stale = SignInSource.last_failure_at <= window_start
    reserved = session.execute(db.insert_for(session)(SignInSource).values(
        source=source, failures=1, last_failure_at=now, retry_at=None).on_conflict_do_update(
        index_elements=[SignInSource.source],
        set_={"failures": case((stale, 1), else_=SignInSource.failures + 1), "last_failure_at": now},
        where=or_(SignInSource.retry_at.is_(None), SignInSource.retry_at <= now, stale),
    ).returning(SignInSource.failures)).first()
    if reserved is None:
        return None
    wait = _wait_for(reserved[0])
    session.execute(update(SignInSource).where(SignInSource.source == source).values(
        retry_at=now + timedelta(seconds=wait) if wait else None))
    return int(reserved[0])


def _wait_left(session: Session, source: str, now: datetime) -> int:
    retry_at = session.scalar(select(SignInSource.retry_at).where(SignInSource.source == source))
    return max(1, math.ceil((retry_at - now).total_seconds())) if retry_at is not None else 1


def _refund(session: Session, source: str) -> None:
    """A success: the attempt it reserved was no failure, and the address may try again at once. Its
    earlier failures stay counted (a success of one account never clears guesses at another): the
    next failure from there waits as long as the count says."""
    session.execute(update(SignInSource).where(SignInSource.source == source).values(
        failures=case((SignInSource.failures > 0, SignInSource.failures - 1), else_=0), retry_at=None))


def _known(session: Session, user: User, source: str, now: datetime) -> bool:
    """Whether this user has signed in from this address in the last KNOWN_ADDRESS_DAYS."""
    return session.scalar(select(KnownSignInAddress.user_id).where(
        KnownSignInAddress.user_id == user.id, KnownSignInAddress.source == source,
        KnownSignInAddress.last_success_at > now - timedelta(days=KNOWN_ADDRESS_DAYS))) is not None


def _remember(session: Session, user: User, source: str, now: datetime) -> None:
    session.execute(db.insert_for(session)(KnownSignInAddress).values(
        user_id=user.id, source=source, last_success_at=now).on_conflict_do_update(
        index_elements=[KnownSignInAddress.user_id, KnownSignInAddress.source], set_={"last_success_at": now}))


def clear_throttle(session: Session, user: User) -> int:
    """Lift the throttle of the addresses this user signs in from (an administrator's unlock)."""
    known = select(KnownSignInAddress.source).where(KnownSignInAddress.user_id == user.id)
    return db.changed(session, delete(SignInSource).where(SignInSource.source.in_(known)))


def authenticate(session: Session, email: str, password: str, *, source: str | None = None,
                 now: datetime | None = None) -> LoginResult:
    """Check a sign-in attempt, count failures, lock after too many, and audit every outcome.

    `source` is the client's network address (None when unknown, e.g. a local run). Each attempt
    from an address is counted before anything else; past FREE_FAILURES the next one must wait,
    refused before any lookup or hash. A locked account still opens, with the right password, from
    an address this user has signed in from before and that has not failed since."""
    settings = get_settings()
    now = now or utcnow()
    email_n = normalize_email(email)
    if not email_n or not password:
        return LoginResult(False, "Saisissez votre adresse e-mail et votre mot de passe.")
    source = (source or "").strip()[:64] or None
    origin = {"source": source} if source else {}
    count = _reserve(session, source, now) if source else 0
    if count is None:  # a burst from one place costs nothing: no lookup, no hash, no audit row
        wait = _wait_left(session, source, now)  # type: ignore[arg-type]
        log.info("Sign-in attempt refused: its address must wait %s s", wait)
        return LoginResult(False, throttled_message(wait), retry_after=wait)

    def refused() -> LoginResult:
        if source and _wait_for(count or 0):
            audit.record(session, "login_throttled", actor_email=email_n[:254],
                         details={"source": source, "failures": count, "retry_after": _wait_for(count or 0)})
            log.warning("Sign-in throttled: %s failures from one address, next attempt in %s s", count,
                        _wait_for(count or 0))
        return LoginResult(False, GENERIC_FAILURE)

    user = get_user_by_email(session, email_n) if len(email_n) <= 254 else None
    if user is None:
        if len(email_n) <= 254:  # (no account can have a longer one: no hash to time)
            verify_password(_DUMMY_HASH, password)
        audit.record(session, "login_failed", actor_email=email_n[:254], details={"reason": "unknown_email", **origin})
        log.info("Sign-in failed: unknown e-mail")
        return refused()

    locked = user.locked_until is not None and user.locked_until > now
    # A lock binds every address but this user's own that has not failed since (this attempt is its first).
    trusted = locked and source is not None and count == 1 and _known(session, user, source, now)
    if locked and not trusted:
        verify_password(user.password_hash, password)  # as long as any other refusal: timing tells nothing
        minutes = max(1, math.ceil((user.locked_until - now).total_seconds() / 60))  # type: ignore[operator]
        audit.record(session, "login_blocked", actor=user, target_type="user", target_id=user.id,
                     details={"minutes_left": minutes, **origin})
        return refused()

    if not verify_password(user.password_hash, password):
        # Counted in the database itself: attempts at once each add one, none is lost.
        failed = session.execute(update(User).where(User.id == user.id)
                                 .values(failed_logins=User.failed_logins + 1)
                                 .returning(User.failed_logins)).scalar_one()
        audit.record(session, "login_failed", actor=user, target_type="user", target_id=user.id,
                     details={"reason": "wrong_password", "failed_logins": failed, **origin})
        if failed >= settings.max_failed_logins:
            session.execute(update(User).where(User.id == user.id).values(
                locked_until=now + timedelta(minutes=settings.lockout_minutes), failed_logins=0))
            audit.record(session, "account_locked", actor=user, target_type="user", target_id=user.id,
                         details={"minutes": settings.lockout_minutes})
            log.warning("Account %s locked for %s minutes", user.id, settings.lockout_minutes)
        session.expire(user)
        return refused()

    if not user.is_active:
        audit.record(session, "login_failed", actor=user, target_type="user", target_id=user.id,
                     details={"reason": "disabled", **origin})
        return refused()

    if trusted:  # the lock stays for the addresses that caused it
        accepted = session.execute(update(User).where(User.id == user.id).values(last_login_at=now)
                                   .returning(User.id)).first()
    else:  # accepted only if no lock was set meanwhile (by attempts that failed while this one was checked)
        accepted = session.execute(update(User).where(
            User.id == user.id, (User.locked_until.is_(None)) | (User.locked_until <= now)).values(
            failed_logins=0, locked_until=None, last_login_at=now).returning(User.id)).first()
    session.expire(user)
    if accepted is None:
        audit.record(session, "login_blocked", actor=user, target_type="user", target_id=user.id,
                     details={"reason": "locked_meanwhile", **origin})
        return refused()
    if source:
        _refund(session, source)
        _remember(session, user, source, now)
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    audit.record(session, "login", actor=user, target_type="user", target_id=user.id,
                 details={"despite_lock": True, **origin} if trusted else origin)
    return LoginResult(True, f"Bienvenue, {user.name}.", user)


@dataclass(frozen=True)
class SessionCheck:
    user: User | None
    reason: str | None  # None when valid; "expired", "disabled" or "unknown" otherwise

    @property
    def valid(self) -> bool:
        return self.user is not None and self.reason is None


SESSION_MESSAGES = {
    "expired": "Votre session a expiré après une période d'inactivité. Veuillez vous reconnecter.",
    "disabled": "Votre compte a été désactivé. Contactez un administrateur.",
    "password_changed": "Le mot de passe de ce compte a changé : veuillez vous reconnecter.",
    "unknown": "Votre session n'est plus valide. Veuillez vous reconnecter.",
}


def check_session(session: Session, user_id: int, last_seen: datetime, *, now: datetime | None = None,
                  signed_in_at: datetime | None = None) -> SessionCheck:
    """A session is valid while its user is active, its password has not changed since it began (a
    reset ends every open session) and it has been used within the timeout."""
    now = now or utcnow()
    user = session.get(User, user_id)
    if user is None:
        return SessionCheck(None, "unknown")
    if not user.is_active:
        return SessionCheck(None, "disabled")
    if signed_in_at is not None and user.password_changed_at is not None and user.password_changed_at > signed_in_at:
        return SessionCheck(None, "password_changed")
    if now - last_seen > timedelta(minutes=get_settings().session_timeout_minutes):
        audit.record(session, "session_expired", actor=user, target_type="user", target_id=user.id)
        return SessionCheck(None, "expired")
    return SessionCheck(user, None)


def logout(session: Session, user_id: int) -> None:
    user = session.get(User, user_id)
    if user is not None:
        audit.record(session, "logout", actor=user, target_type="user", target_id=user.id)
