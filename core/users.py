"""Accounts of the people who use the app: create, disable, re-enable, reset a password."""

from __future__ import annotations

import re
import secrets
import string
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core import audit
from core.auth import (
    check_password_policy,
    clear_throttle,
    get_user_by_email,
    hash_password,
    normalize_email,
    verify_password,
)
from core.errors import NotFound, UserError
from core.models import Role, User
from core.text import one_line
from core.timeutil import utcnow

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def generate_password(length: int = 16) -> str:
    """A random password that satisfies the policy (letters, digits and a symbol)."""
    alphabet = string.ascii_letters + string.digits
    while True:
        core_part = "".join(secrets.choice(alphabet) for _ in range(length - 2))
        candidate = core_part + secrets.choice("-_.!") + secrets.choice(string.digits)
        if any(c.isalpha() for c in candidate) and any(c.isdigit() for c in candidate):
            return candidate


def _validate(email: str, name: str, role: str) -> tuple[str, str, str]:
    email_n = normalize_email(email)
    if not _EMAIL_RE.match(email_n):
        raise UserError(f"Adresse e-mail invalide : « {email.strip()} ».")
    name_n = one_line(name)
    if not name_n:
        raise UserError("Le nom est obligatoire.")
    if len(name_n) > 120:
        raise UserError("Le nom ne doit pas dépasser 120 caractères.")
    if role not in {r.value for r in Role}:
        raise UserError(f"Rôle inconnu : « {role} ». Rôles possibles : admin, manager, supervisor, agent.")
    return email_n, name_n, role


def create(session: Session, *, email: str, name: str, role: str, password: str, actor: User | None = None) -> User:
    email_n, name_n, role_n = _validate(email, name, role)
    check_password_policy(password)
    if get_user_by_email(session, email_n) is not None:
        raise UserError(f"Un utilisateur avec l'adresse {email_n} existe déjà.")
    user = User(email=email_n, name=name_n, role=role_n, password_hash=hash_password(password),
                password_changed_at=utcnow(), is_active=True, failed_logins=0)
    session.add(user)
    session.flush()
    audit.record(session, "user_created", actor=actor, actor_email=None if actor else "cli",
                 target_type="user", target_id=user.id, details={"email": email_n, "role": role_n})
    return user


def get(session: Session, user_id: int) -> User:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("Utilisateur introuvable.")
    return user


def get_by_email(session: Session, email: str) -> User:
    user = get_user_by_email(session, email)
    if user is None:
        raise NotFound(f"Aucun utilisateur avec l'adresse {normalize_email(email)}.")
    return user


def list_all(session: Session) -> list[User]:
    return list(session.scalars(select(User).order_by(User.is_active.desc(), User.name)).all())


def count_active_admins(session: Session) -> int:
    return session.scalar(
        select(func.count()).select_from(User).where(User.role == Role.ADMIN, User.is_active.is_(True))
    ) or 0


def disable(session: Session, user: User, *, actor: User | None = None) -> User:
    if not user.is_active:
        raise UserError(f"Le compte {user.email} est déjà désactivé.")
    if actor is not None and actor.id == user.id:
        raise UserError("Vous ne pouvez pas désactiver votre propre compte.")
    if user.role == Role.ADMIN and count_active_admins(session) <= 1:
        raise UserError("Impossible de désactiver le dernier administrateur actif.")
    user.is_active = False
    audit.record(session, "user_disabled", actor=actor, actor_email=None if actor else "cli",
                 target_type="user", target_id=user.id, details={"email": user.email})
    return user


def enable(session: Session, user: User, *, actor: User | None = None) -> User:
    if user.is_active:
        raise UserError(f"Le compte {user.email} est déjà actif.")
    user.is_active = True
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, "user_enabled", actor=actor, actor_email=None if actor else "cli",
                 target_type="user", target_id=user.id, details={"email": user.email})
    return user


def change_role(session: Session, user: User, role: str, *, actor: User | None = None) -> User:
    _validate(user.email, user.name, role)
    if user.role == role:
        return user
    if user.role == Role.ADMIN and user.is_active and count_active_admins(session) <= 1:
        raise UserError("Impossible de retirer le rôle administrateur au dernier administrateur actif.")
    old = user.role
    user.role = role
    audit.record(session, "user_role_changed", actor=actor, actor_email=None if actor else "cli",
                 target_type="user", target_id=user.id, details={"email": user.email, "from": old, "to": role})
    return user


def reset_password(session: Session, user: User, password: str, *, actor: User | None = None) -> User:
    """Set a new password; the account is unlocked too."""
    check_password_policy(password)
    user.password_hash = hash_password(password)
    user.password_changed_at = utcnow()
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, "password_reset", actor=actor, actor_email=None if actor else "cli",
                 target_type="user", target_id=user.id, details={"email": user.email})
    return user


def unlock(session: Session, user: User, *, actor: User | None = None, now: datetime | None = None) -> User:
    """An administrator lets a locked account sign in again at once (its password unchanged)."""
    now = now or utcnow()
    if user.locked_until is None or user.locked_until <= now:
        raise UserError(f"Le compte {user.email} n'est pas verrouillé.")
    user.locked_until = None
    user.failed_logins = 0
    clear_throttle(session, user)  # and the throttle of the addresses they sign in from
    audit.record(session, "user_unlocked", actor=actor, actor_email=None if actor else "cli",
                 target_type="user", target_id=user.id, details={"email": user.email})
    return user


def change_own_password(session: Session, user: User, current: str, new: str) -> User:
    """A user changes their own password: the current one is asked first (a session left open is not
    enough), the new one follows the policy and differs. Other open sessions of this account end."""
    if not verify_password(user.password_hash, current):
        audit.record(session, "password_change_refused", actor=user, target_type="user", target_id=user.id)
        raise UserError("Le mot de passe actuel est incorrect.")
    if new == current:
        raise UserError("Le nouveau mot de passe doit être différent de l'actuel.")
    check_password_policy(new)
    user.password_hash = hash_password(new)
    user.password_changed_at = utcnow()
    audit.record(session, "password_changed", actor=user, target_type="user", target_id=user.id)
    return user
