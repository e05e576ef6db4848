"""Dashboard users, sessions and login throttling.

Users live in a TOML file (`[users.NAME] password_hash = "$argon2id$..."`), made with
`taxhall web --hash-password`. Sessions are in memory (a restart logs everybody out, which a
duty supervisor survives): each has an absolute lifetime, an idle limit and its own CSRF token.
"""

from __future__ import annotations

import collections
import secrets
import threading
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

_hasher = PasswordHasher()
# Verified when the user is unknown, so a wrong name costs as long as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def load_users(path: Path) -> dict[str, str]:
    """NAME → argon2 hash; an absent file means nobody can log in."""
    if not path.exists():
        return {}
    with path.open("rb") as f:
        data = tomllib.load(f)
    users = data.get("users", {})
    return {name: str(entry["password_hash"]) for name, entry in users.items() if isinstance(entry, dict) and "password_hash" in entry}


def check_password(users: dict[str, str], name: str, password: str) -> bool:
    stored = users.get(name)
    try:
        return _hasher.verify(stored or _DUMMY_HASH, password) and stored is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


@dataclass
class Session:
    user: str
    csrf: str
    created: float
    seen: float


@dataclass
class Sessions:
    """Live sessions by their cookie value."""

    lifetime_s: float
    idle_s: float
    clock: Callable[[], float] = time.monotonic
    _by_id: dict[str, Session] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def open(self, user: str) -> tuple[str, Session]:
        now = self.clock()
        sid, session = secrets.token_urlsafe(32), Session(user, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._by_id[sid] = session
        return sid, session

    def get(self, sid: str | None, *, touch: bool = True) -> Session | None:
        """The session of a cookie, if it has not expired; with `touch` (a request of the
        user's, not a live stream's heartbeat) it resets the idle clock."""
        if not sid:
            return None
        now = self.clock()
        with self._lock:
            session = self._by_id.get(sid)
            if session is None:
                return None
            if now - session.created > self.lifetime_s or now - session.seen > self.idle_s:
                del self._by_id[sid]
                return None
            if touch:
                session.seen = now
            return session

    def close(self, sid: str | None) -> None:
        with self._lock:
            self._by_id.pop(sid or "", None)


@dataclass
class LoginThrottle:
    """At most `attempts` failed logins per key (client address, user name) per window."""

    attempts: int
    window_s: float
    clock: Callable[[], float] = time.monotonic
    _failures: dict[str, collections.deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def blocked(self, *keys: str) -> bool:
        now = self.clock()
        with self._lock:
            for key in keys:
                recent = self._failures.get(key)
                while recent and now - recent[0] > self.window_s:
                    recent.popleft()
                if recent and len(recent) >= self.attempts:
                    return True
        return False

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                self._failures.setdefault(key, collections.deque()).append(now)
            if len(self._failures) > 10_000:  # a spray of names must not grow this forever
                self._failures = {k: v for k, v in self._failures.items() if v and now - v[-1] <= self.window_s}
