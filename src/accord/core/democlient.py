"""An HTTP session signed in as one demo user: the demo data goes through the
same pages and API as a user's own work (used by `accord demo`)."""

from __future__ import annotations

from typing import Any

import httpx


class SeedError(Exception):
    pass


class SignedIn:
    def __init__(self, url: str, username: str, password: str) -> None:
        self.client = httpx.Client(base_url=url, timeout=30)
        token = self.client.get("/login/").cookies["csrftoken"]
        form = {"username": username, "password": password, "csrfmiddlewaretoken": token}
        if self.client.post("/login/", data=form).status_code != 302:
            raise SeedError(f"sign-in as {username} at {url} failed")
        self.client.headers["X-CSRFToken"] = self.client.cookies["csrftoken"]
        self.client.headers["Referer"] = url

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        response = self.client.request(method, path, json=body)
        if response.status_code != expect:
            raise SeedError(f"{method} {path}: {response.status_code} {response.text[:300]}")
        return response.json()
