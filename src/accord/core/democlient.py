"""An HTTP session signed in as one demo user: the demo data goes through the
same pages and API as a user's own work (used by `accord demo`)."""

from __future__ import annotations

import threading
import time
from base64 import b32decode
from typing import Any

import httpx
from django_otp.oath import hotp

# The published authenticator secret of the demo's administrators and
# central-authority officers (synthetic data; `accord demo` prints it).
DEMO_TOTP_SECRET = "ACCORDDEMOACCORDDEMOACCORDDEMO22"  # noqa: S105  # nosec B105 (the demo's published secret)
TOTP_STEP_SECONDS = 30
VERIFY_PATH = "/account/second-factor/verify/"
CODE_ATTEMPTS = 4


class SeedError(Exception):
    pass


class OneTimeCodes:
    """Authenticator codes for scripted sign-ins (the demo's seeding, tests).
    A node takes each time step's code once, and the codes of the steps just
    before and after it too (django-otp's tolerance): a quick second sign-in
    uses the next step's code; a third within the same step waits for that
    step to end (at most 30 s)."""

    def __init__(self, secret: str) -> None:
        self.key = b32decode(secret + "=" * (-len(secret) % 8))
        self.last_step: dict[tuple[str, str], int] = {}
        self.lock = threading.Lock()

    def at(self, step: int) -> str:
        return f"{hotp(self.key, step):06d}"

    def next(self, url: str, username: str) -> str:
        with self.lock:
            now = int(time.time()) // TOTP_STEP_SECONDS
            step = max(now, self.last_step.get((url, username), -1) + 1)
            if step > now + 1:
                time.sleep(max(0.0, (step - 1) * TOTP_STEP_SECONDS - time.time() + 0.05))
            self.last_step[(url, username)] = step
            return self.at(step)


DEMO_CODES = OneTimeCodes(DEMO_TOTP_SECRET)
# One session per demo user and node, shared by every seeding step.
_sessions: dict[tuple[str, str], httpx.Cookies] = {}


class SignedIn:
    def __init__(self, url: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        known = _sessions.get((url, username))
        if known is None:
            self._sign_in(url, username, password)
            _sessions[(url, username)] = self.client.cookies
        else:
            self.client.cookies = known
        self.client.headers["X-CSRFToken"] = self.client.cookies["csrftoken"]
        self.client.headers["Referer"] = url

    def _sign_in(self, url: str, username: str, password: str) -> None:
        token = self.client.get("/login/").cookies["csrftoken"]
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        if self.client.post("/login/", data=form).status_code != 302:
            raise SeedError(f"sign-in as {username} at {url} failed")
        asked = self.client.get("/").headers.get("location", "")
        if not asked.startswith(VERIFY_PATH):
            return
        # Another process (the demo's seeding, a test) may have used this
        # step's code already: the node takes each once, so try the next
        # steps, after the pause django-otp imposes after a refused code.
        for attempt in range(CODE_ATTEMPTS):
            code = {"code": DEMO_CODES.next(url, username)}
            code["csrfmiddlewaretoken"] = self.client.cookies["csrftoken"]
            if self.client.post(VERIFY_PATH, data=code).status_code == 302:
                return
            time.sleep(2 ** (attempt + 1))
        raise SeedError(f"second factor of {username} at {url} refused")

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.client.request(method, path, json=body)
        if response.status_code != expect:
            raise SeedError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()
