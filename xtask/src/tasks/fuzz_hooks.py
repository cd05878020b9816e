"""Schemathesis hooks for fuzzing EMS as its admin. Embedded in and written out by `cargo xtask fuzz` (xtask/src/tasks/fuzz.rs).

Auth: every generated case carries the admin's bearer token from POST /api/v1/auth/login.
Fuzzed calls can kill that token (logout, logout-all, revoking the current session, a
password change), so the token is dropped as soon as a call with it answers 401 or a
session-ending call succeeds; the next case logs in again, and a case generated with a
dropped token gets the fresh one just before it is sent.

Guard: the admin's own user id never reaches a request path (it is swapped for a random
UUID), so a fuzzed reset-password, block, demotion, delete or revoke-all cannot take the
fuzzer's account away.

Depth: valid UUIDs in `{id}` paths are mostly mapped onto real objects made here at start
(users, one of them soft-deleted, with sessions; extra admin sessions), so the fuzzer
reaches past 404 into the handlers. The mapping is a function of the generated value,
so a fixed --seed gives the same run.
"""
import os
import secrets
import threading
import uuid

import requests
import schemathesis

BASE_URL = os.environ["EMS_FUZZ_BASE_URL"].rstrip("/")
USERNAME = os.environ["EMS_FUZZ_ADMIN_USERNAME"]
PASSWORD = os.environ["EMS_FUZZ_ADMIN_PASSWORD"]

# Calls that end the caller's session(s) when they succeed.
SESSION_ENDING = {
    ("POST", "/api/v1/auth/logout"),
    ("POST", "/api/v1/auth/logout-all"),
    ("PUT", "/api/v1/profile/password"),
    ("DELETE", "/api/v1/sessions/{id}"),
}

_lock = threading.Lock()
_token = None
_dropped = set()
_admin_ids = set()
_user_pool = []
_session_pool = []


def _login(username=USERNAME, password=PASSWORD):
    response = requests.post(
        f"{BASE_URL}/api/v1/auth/login",
        json={"username": username, "password": password},
        timeout=30,
    )
    if response.status_code != 200:
        raise RuntimeError(f"login of {username} answered {response.status_code}: {response.text[:300]}")
    return response.json()


def _admin_token():
    global _token
    with _lock:
        if _token is None:
            body = _login()
            _admin_ids.add(str(body["user"]["id"]).lower())
            _token = body["accessToken"]
        return _token


def _drop(token):
    global _token
    with _lock:
        _dropped.add(token)
        if _token == token:
            _token = None


def _seed_objects():
    """Users to aim `{id}` at, and spare admin sessions for DELETE /sessions/{id}."""
    headers = {"Authorization": f"Bearer {_admin_token()}"}
    for i in range(4):
        password = "Fz-" + secrets.token_urlsafe(18)
        body = {
            "username": f"fuzz{i}-{secrets.token_hex(4)}",
            "displayName": f"Fuzz target {i}",
            "password": password,
            "role": "ADMIN" if i == 0 else "USER",
        }
        response = requests.post(f"{BASE_URL}/api/v1/users", json=body, headers=headers, timeout=30)
        if response.status_code != 201:
            raise RuntimeError(f"creating a fuzz target answered {response.status_code}: {response.text[:300]}")
        user_id = response.json()["id"]
        _login(body["username"], password)  # gives the user a session to list and revoke
        _user_pool.append(user_id)
    # The last one soft-deleted, for restore and includeDeleted.
    requests.delete(f"{BASE_URL}/api/v1/users/{_user_pool[-1]}", headers=headers, timeout=30)
    for _ in range(4):
        _session_pool.append(_login()["sessionId"])


_seed_objects()


@schemathesis.auth(refresh_interval=None)
class AdminLogin:
    """The admin's bearer token; see the module doc for when it is renewed."""

    def get(self, case, context):
        return _admin_token()

    def set(self, case, data, context):
        case.headers = case.headers or {}
        case.headers["Authorization"] = f"Bearer {data}"


def _pick(value, pool):
    """A pool member for most valid UUIDs (by their value), else the value itself."""
    try:
        parsed = uuid.UUID(str(value))
    except ValueError:
        return value
    slot = parsed.int % (len(pool) + 2)
    return pool[slot] if slot < len(pool) else value


@schemathesis.hook
def before_call(context, case, kwargs):
    headers = case.headers or {}
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer ") and auth[len("Bearer "):] in _dropped:
        headers["Authorization"] = f"Bearer {_admin_token()}"
    params = case.path_parameters
    if not params or "id" not in params:
        return
    template = case.operation.path
    if template.startswith("/api/v1/users/"):
        params["id"] = _pick(params["id"], _user_pool)
    elif template.startswith("/api/v1/sessions/"):
        params["id"] = _pick(params["id"], _session_pool)
    if str(params["id"]).lower() in _admin_ids:
        params["id"] = str(uuid.uuid5(uuid.NAMESPACE_URL, str(params["id"])))


@schemathesis.hook
def after_call(context, case, response):
    auth = response.request.headers.get("Authorization", "")
    if not auth.startswith("Bearer "):
        return
    token = auth[len("Bearer "):]
    ended = (case.method.upper(), case.operation.path) in SESSION_ENDING and 200 <= response.status_code < 300
    if response.status_code == 401 or ended:
        _drop(token)
