"""A stateful fake of the Slack Web API, for ``slack_sdk.WebClient(base_url=fake.base_url + "/api/")``.

It speaks the real wire protocol: methods are ``POST|GET /api/<method>``, the token arrives as
``Authorization: Bearer xox...`` (or a ``token`` parameter), parameters come as a query string, a
form-encoded body or a JSON body (all three are merged), and answers are ``{"ok": true, ...}`` or
``{"ok": false, "error": "..."}`` with HTTP 200, except rate limits (HTTP 429 + ``Retry-After``).

State lives in memory: channels with their messages and threads, users, views, files, response_url posts.
Every call is recorded in order as a :class:`Call`. Faults are scripted per method with :meth:`FakeSlack.fail_next`.

Choices where the real API is looser or unknown (all deliberate, to catch our own bugs):
- posting with a ``thread_ts`` that is no message of the channel fails with ``thread_not_found``;
- ``chat.update``/``chat.delete`` only touch messages our bot posted (``cant_update_message``/``cant_delete_message``);
- message ``ts`` values are deterministic and strictly increasing (``1700000000.000100``, ``...000200``, ...),
  not wall-clock time; ``start_ts`` changes the origin;
- channel and user ids are derived from their names (``C`` / ``U`` + 8 hex of a hash) unless given.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.httpserver import LoopbackServer, Request, Response

TEAM_ID = "T0SANDBOX"
TEAM_DOMAIN = "sandbox"
#: Parameters that arrive JSON-encoded in form bodies and are decoded before they are stored or recorded.
_JSON_PARAMS = ("blocks", "attachments", "metadata", "view", "files", "chunks", "prompts")


@dataclass(frozen=True)
class Call:
    """One Web API call as the fake received it."""

    method: str
    params: dict[str, Any]
    at: float
    token: str | None = None
    http_method: str = "POST"
    status: int = 200
    response: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the fake answered ``ok: true``."""
        return self.status == 200 and bool(self.response.get("ok"))


@dataclass
class Fault:
    """A scripted failure for the next `times` calls of `method`."""

    method: str
    status: int = 200
    error: str = "ratelimited"
    retry_after: int | None = None
    times: int = 1


@dataclass
class Channel:
    """A conversation and its messages (top-level and replies, in posting order)."""

    id: str
    name: str
    is_private: bool = False
    is_im: bool = False
    created: int = 1700000000
    topic: str = ""
    purpose: str = ""
    members: set[str] = field(default_factory=set)
    messages: list[dict[str, Any]] = field(default_factory=list)
    is_archived: bool = False

    def to_api(self, bot_user_id: str) -> dict[str, Any]:
        """The channel object as ``conversations.info`` returns it."""
        return {
            "id": self.id,
            "name": self.name,
            "is_channel": not self.is_private and not self.is_im,
            "is_group": self.is_private,
            "is_im": self.is_im,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": self.name == "general",
            "is_member": bot_user_id in self.members,
            "created": self.created,
            "creator": "",
            "name_normalized": self.name,
            "topic": {"value": self.topic, "creator": "", "last_set": 0},
            "purpose": {"value": self.purpose, "creator": "", "last_set": 0},
            "num_members": len(self.members),
            "context_team_id": TEAM_ID,
        }


@dataclass
class User:
    """A workspace member."""

    id: str
    name: str
    real_name: str = ""
    is_bot: bool = False
    tz: str = "Europe/London"
    email: str | None = None
    bot_id: str | None = None

    def to_api(self) -> dict[str, Any]:
        """The user object as ``users.info`` returns it."""
        profile: dict[str, Any] = {
            "real_name": self.real_name or self.name,
            "display_name": self.name,
            "real_name_normalized": self.real_name or self.name,
            "display_name_normalized": self.name,
            "team": TEAM_ID,
        }
        if self.email:
            profile["email"] = self.email
        if self.bot_id:
            profile["bot_id"] = self.bot_id
        return {
            "id": self.id,
            "team_id": TEAM_ID,
            "name": self.name,
            "deleted": False,
            "real_name": self.real_name or self.name,
            "tz": self.tz,
            "is_bot": self.is_bot,
            "is_admin": False,
            "is_app_user": False,
            "updated": 1700000000,
            "profile": profile,
        }


class SlackApiFault(Exception):
    """Raised inside a method handler to answer ``{"ok": false, "error": ...}``."""

    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.error = error
        self.extra = extra


def _id(prefix: str, key: str) -> str:
    return prefix + hashlib.sha1(key.encode()).hexdigest()[:8].upper()


class FakeSlack(LoopbackServer):
    """The fake Slack Web API. Start it, point a ``WebClient`` at :attr:`api_url`, assert on :attr:`calls`."""

    def __init__(
        self,
        *,
        bot_user_id: str = "U0SREBOT",
        bot_id: str = "B0SREBOT",
        app_id: str = "A0SREBOT",
        bot_name: str = "sre-bot",
        start_ts: int = 1700000000_000100,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency)
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.app_id = app_id
        self.bot_name = bot_name
        self.start_ts = start_ts
        self._state_lock = threading.RLock()
        self._init_state()
        self.add_route("*", r"/api/(?P<method>[A-Za-z0-9_.]+)", self._api)
        self.add_route("POST", r"/webhook/(?P<hook>[^/]+)", self._webhook)
        self.add_route("POST", r"/upload/v1/(?P<file_id>[^/]+)", self._upload)

    def _init_state(self) -> None:
        self.calls: list[Call] = []
        self.faults: list[Fault] = []
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, User] = {}
        self.user_groups: dict[str, list[str]] = {}  # user group id (S...) -> member user ids
        self.ephemerals: list[dict[str, Any]] = []
        self.views: dict[str, dict[str, Any]] = {}
        self.home_views: dict[str, dict[str, Any]] = {}
        self.files: dict[str, dict[str, Any]] = {}
        self.webhooks: dict[str, list[dict[str, Any]]] = {}
        self._ts = self.start_ts
        self._seq = 0
        self.users[self.bot_user_id] = User(
            self.bot_user_id, self.bot_name, real_name=self.bot_name, is_bot=True, bot_id=self.bot_id
        )

    # -- test-side state setters and readers ------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        """The ``base_url`` for ``WebClient`` (with the trailing slash it needs)."""
        return self.base_url + "/api/"

    def reset(self) -> None:
        """Forget every call, fault, channel, user, message, view, file and webhook post."""
        with self._state_lock:
            self.requests.clear()
            self._init_state()

    def add_channel(
        self,
        name: str,
        *,
        id: str | None = None,
        is_private: bool = False,
        members: Iterable[str] = (),
        bot_is_member: bool = True,
        topic: str = "",
    ) -> str:
        """Create a channel (or return the existing one's id) and return its id."""
        name = name.lstrip("#")
        with self._state_lock:
            for ch in self.channels.values():
                if ch.name == name:
                    return ch.id
            cid = id or _id("G" if is_private else "C", name)
            ch = Channel(cid, name, is_private=is_private, members=set(members), topic=topic)
            if bot_is_member:
                ch.members.add(self.bot_user_id)
            self.channels[cid] = ch
            return cid

    def add_user(
        self,
        name: str,
        *,
        id: str | None = None,
        real_name: str = "",
        is_bot: bool = False,
        email: str | None = None,
    ) -> str:
        """Create a workspace user and return their id."""
        with self._state_lock:
            uid = id or _id("U", name)
            self.users[uid] = User(uid, name, real_name=real_name or name, is_bot=is_bot, email=email)
            return uid

    def add_user_group(self, group_id: str, members: list[str]) -> str:
        """Create a user group (``S...``) with these members; returns its id."""
        with self._state_lock:
            self.user_groups[group_id] = list(members)
            return group_id

    def add_message(self, channel: str, message: Mapping[str, Any]) -> str:
        """Put a message someone else posted (e.g. a PagerDuty or AWS Chatbot event) into a channel.

        `message` is a Slack message object such as the ``event`` of a ``message`` callback. Its ``ts`` is
        kept if given (and must be new), otherwise the next ts is assigned. A ``thread_ts`` different from
        ``ts`` makes it a reply. Returns the ts.
        """
        with self._state_lock:
            ch = self._channel(channel)
            msg = {k: v for k, v in message.items() if k not in ("channel", "event_ts", "channel_type")}
            msg.setdefault("type", "message")
            ts = str(msg.get("ts") or self._next_ts())
            msg["ts"] = ts
            if any(m["ts"] == ts for m in ch.messages):
                raise ValueError(f"a message with ts {ts} is already in {ch.name}")
            self._bump_ts_past(ts)
            self._store(ch, msg)
            return ts

    def channel_id(self, name_or_id: str) -> str:
        """The id of a channel given by id, name or ``#name``."""
        with self._state_lock:
            return self._channel(name_or_id).id

    def messages(self, channel: str) -> list[dict[str, Any]]:
        """Top-level messages of a channel (and thread broadcasts), oldest first."""
        with self._state_lock:
            ch = self._channel(channel)
            return [dict(m) for m in ch.messages if self._is_top_level(m)]

    def replies(self, channel: str, thread_ts: str) -> list[dict[str, Any]]:
        """The replies in a thread (without the parent), oldest first."""
        with self._state_lock:
            ch = self._channel(channel)
            return [
                dict(m)
                for m in ch.messages
                if m.get("thread_ts") == thread_ts
                and m["ts"] != thread_ts
                and m.get("subtype") != "thread_broadcast"
            ]

    def message(self, channel: str, ts: str) -> dict[str, Any] | None:
        """One message by ts, or None."""
        with self._state_lock:
            found = self._find(self._channel(channel), ts)
            return dict(found) if found else None

    def calls_to(self, method: str) -> list[Call]:
        """Recorded calls of one method (e.g. ``"chat.postMessage"``), in order."""
        with self._state_lock:
            return [c for c in self.calls if c.method == method]

    def methods(self) -> list[str]:
        """The method of every recorded call, in order."""
        with self._state_lock:
            return [c.method for c in self.calls]

    def fail_next(
        self,
        method: str,
        *,
        status: int | None = None,
        error: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        """Make the next `times` calls of `method` fail.

        ``status=429`` answers HTTP 429 with ``Retry-After`` (default 1) and ``error: ratelimited``; any other
        status is sent as-is with ``{"ok": false, "error": error}``; with only ``error`` given, the answer is
        the usual HTTP 200 ``ok: false`` (e.g. ``channel_not_found``).
        """
        if status is None:
            status = 429 if error in (None, "ratelimited") else 200
        if status == 429 and retry_after is None:
            retry_after = 1
        err = error or ("ratelimited" if status == 429 else "internal_error")
        with self._state_lock:
            self.faults.append(Fault(method, status, err, retry_after, times))

    # -- HTTP endpoints ---------------------------------------------------------------------------------------

    def _api(self, req: Request) -> Response:
        method = req.path_params["method"]
        params = self._params(req)
        token = self._token(req, params)
        params.pop("token", None)
        with self._state_lock:
            fault = self._take_fault(method)
            if fault is not None:
                body: dict[str, Any] = {"ok": False, "error": fault.error}
                headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
                self.calls.append(Call(method, params, req.at, token, req.method, fault.status, body))
                return Response.json(body, status=fault.status, headers=headers)
            try:
                self._check_auth(method, token)
                handler = getattr(self, "_m_" + method.replace(".", "_"), None)
                if handler is None:
                    raise SlackApiFault("unknown_method")
                body = {"ok": True, **handler(params)}
            except SlackApiFault as f:
                body = {"ok": False, "error": f.error, **f.extra}
            self.calls.append(Call(method, params, req.at, token, req.method, 200, body))
        return Response.json(body, headers={"X-Slack-Req-Id": f"fake-{len(self.calls)}"})

    def _webhook(self, req: Request) -> Response:
        payload: dict[str, Any]
        if req.content_type == "application/json":
            payload = req.json() or {}
        else:
            form = req.form()
            payload = json.loads(form["payload"]) if "payload" in form else dict(form)
        hook = req.path_params["hook"]
        with self._state_lock:
            self.webhooks.setdefault(hook, []).append(payload)
            self.calls.append(Call(f"webhook/{hook}", payload, req.at, None, req.method, 200, {"ok": True}))
        return Response.text("ok")

    def _upload(self, req: Request) -> Response:
        fid = req.path_params["file_id"]
        with self._state_lock:
            f = self.files.get(fid)
            if f is None:
                return Response.text("file_not_found", status=404)
            f["content"] = req.body
            f["size"] = len(req.body)
            self.calls.append(
                Call("files.upload", {"file_id": fid, "size": len(req.body)}, req.at, None, "POST")
            )
        return Response.text(f"OK - {len(req.body)}")

    def not_found(self, req: Request) -> Response:
        return Response.json({"ok": False, "error": "unknown_method"}, status=404)

    # -- plumbing -------------------------------------------------------------------------------------------------

    @staticmethod
    def _params(req: Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(req.query)
        if req.body:
            if req.content_type == "application/json":
                params.update(req.json() or {})
            elif req.content_type == "application/x-www-form-urlencoded":
                params.update(req.form())
        for key in _JSON_PARAMS:
            value = params.get(key)
            if isinstance(value, str) and value[:1] in "[{":
                with contextlib.suppress(ValueError):
                    params[key] = json.loads(value)
        return params

    @staticmethod
    def _token(req: Request, params: Mapping[str, Any]) -> str | None:
        auth = req.header("authorization") or ""
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        tok = params.get("token")
        return str(tok) if tok else None

    def _check_auth(self, method: str, token: str | None) -> None:
        if not token:
            raise SlackApiFault("not_authed")
        if method == "apps.connections.open":
            if not token.startswith("xapp-"):
                raise SlackApiFault("invalid_auth")
        elif not token.startswith(("xoxb-", "xoxp-")):
            raise SlackApiFault("invalid_auth")

    def _take_fault(self, method: str) -> Fault | None:
        for f in self.faults:
            if f.method == method and f.times > 0:
                f.times -= 1
                if f.times == 0:
                    self.faults.remove(f)
                return f
        return None

    def _next_ts(self) -> str:
        n = self._ts
        self._ts += 100
        return f"{n // 1_000_000}.{n % 1_000_000:06d}"

    def _bump_ts_past(self, ts: str) -> None:
        sec, _, frac = ts.partition(".")
        n = int(sec) * 1_000_000 + int((frac + "000000")[:6])
        if n >= self._ts:
            self._ts = n + 100

    def _channel(self, ref: str | None) -> Channel:
        if not ref:
            raise SlackApiFault("channel_not_found")
        ref = str(ref)
        if ref in self.channels:
            return self.channels[ref]
        name = ref.lstrip("#")
        for ch in self.channels.values():
            if ch.name == name:
                return ch
        if ref in self.users:  # posting to a user id opens the DM
            dm_id = _id("D", ref)
            if dm_id not in self.channels:
                self.channels[dm_id] = Channel(dm_id, ref, is_im=True, members={ref, self.bot_user_id})
            return self.channels[dm_id]
        raise SlackApiFault("channel_not_found")

    @staticmethod
    def _find(ch: Channel, ts: str | None) -> dict[str, Any] | None:
        return next((m for m in ch.messages if m["ts"] == ts), None)

    @staticmethod
    def _is_top_level(m: Mapping[str, Any]) -> bool:
        return m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast"

    def _store(self, ch: Channel, msg: dict[str, Any]) -> None:
        thread_ts = msg.get("thread_ts")
        if thread_ts and thread_ts != msg["ts"] and msg.get("subtype") != "thread_broadcast":
            parent = self._find(ch, thread_ts)
            if parent is None:
                raise SlackApiFault("thread_not_found")
            parent["thread_ts"] = thread_ts
            parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
            author = msg.get("user") or msg.get("bot_id") or ""
            users = list(parent.get("reply_users", []))
            if author and author not in users:
                users.append(author)
            parent["reply_users"] = users
            parent["reply_users_count"] = len(users)
            parent["latest_reply"] = msg["ts"]
        ch.messages.append(msg)

    def _bot_message(self, params: Mapping[str, Any], ts: str) -> dict[str, Any]:
        msg: dict[str, Any] = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": params.get("text") or "",
            "ts": ts,
            "team": TEAM_ID,
            "bot_profile": {
                "id": self.bot_id,
                "app_id": self.app_id,
                "name": self.bot_name,
                "deleted": False,
                "team_id": TEAM_ID,
                "icons": {"image_36": "", "image_48": "", "image_72": ""},
            },
        }
        for key in ("blocks", "attachments", "metadata", "thread_ts", "username", "icon_emoji", "icon_url"):
            if params.get(key) not in (None, ""):
                msg[key] = params[key]
        return msg

    # -- methods (each returns the fields besides "ok") --------------------------------------------------------------

    def _m_api_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"args": {k: v for k, v in p.items()}}

    def _m_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Sandbox",
            "user": self.bot_name,
            "team_id": TEAM_ID,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        if not (p.get("text") or p.get("blocks") or p.get("attachments") or p.get("markdown_text")):
            raise SlackApiFault("no_text")
        if p.get("markdown_text"):
            p = {**p, "text": p.get("text") or p["markdown_text"]}
        thread_ts = p.get("thread_ts") or None
        if thread_ts and self._find(ch, str(thread_ts)) is None:
            raise SlackApiFault("thread_not_found")
        ts = self._next_ts()
        msg = self._bot_message(p, ts)
        self._store(ch, msg)
        if thread_ts and str(p.get("reply_broadcast", "")).lower() in ("1", "true"):
            self._store(ch, {**msg, "subtype": "thread_broadcast", "root": {"ts": thread_ts}})
        return {"channel": ch.id, "ts": ts, "message": dict(msg)}

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        msg = self._find(ch, p.get("ts"))
        if msg is None:
            raise SlackApiFault("message_not_found")
        if msg.get("bot_id") != self.bot_id:
            raise SlackApiFault("cant_update_message")
        for key in ("text", "blocks", "attachments", "metadata"):
            if key in p:
                msg[key] = p[key]
        msg["edited"] = {"user": self.bot_user_id, "ts": self._next_ts()}
        return {"channel": ch.id, "ts": msg["ts"], "text": msg.get("text", ""), "message": dict(msg)}

    def _m_chat_delete(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        msg = self._find(ch, p.get("ts"))
        if msg is None:
            raise SlackApiFault("message_not_found")
        if msg.get("bot_id") != self.bot_id:
            raise SlackApiFault("cant_delete_message")
        ch.messages.remove(msg)
        return {"channel": ch.id, "ts": msg["ts"]}

    def _m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        if p.get("user") not in self.users:
            raise SlackApiFault("user_not_found")
        ts = self._next_ts()
        self.ephemerals.append({**self._bot_message(p, ts), "channel": ch.id, "to_user": p["user"]})
        return {"message_ts": ts}

    def _m_chat_getPermalink(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        msg = self._find(ch, p.get("message_ts"))
        if msg is None:
            raise SlackApiFault("message_not_found")
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{ch.id}/p{msg['ts'].replace('.', '')}"
        if msg.get("thread_ts") and msg["thread_ts"] != msg["ts"]:
            link += f"?thread_ts={msg['thread_ts']}&cid={ch.id}"
        return {"channel": ch.id, "permalink": link}

    def _m_chat_startStream(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        if p.get("thread_ts") and self._find(ch, str(p["thread_ts"])) is None:
            raise SlackApiFault("thread_not_found")
        ts = self._next_ts()
        msg = self._bot_message({**p, "text": p.get("markdown_text") or ""}, ts)
        msg["streaming"] = True
        self._store(ch, msg)
        return {"channel": ch.id, "ts": ts}

    def _m_chat_appendStream(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        msg = self._find(ch, p.get("ts"))
        if msg is None or not msg.get("streaming"):
            raise SlackApiFault("message_not_in_streaming_state")
        msg["text"] = msg.get("text", "") + self._stream_text(p)
        return {"channel": ch.id, "ts": msg["ts"]}

    def _m_chat_stopStream(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        msg = self._find(ch, p.get("ts"))
        if msg is None or not msg.get("streaming"):
            raise SlackApiFault("message_not_in_streaming_state")
        msg["text"] = msg.get("text", "") + self._stream_text(p)
        for key in ("blocks", "metadata"):
            if key in p:
                msg[key] = p[key]
        msg.pop("streaming", None)
        return {"channel": ch.id, "ts": msg["ts"], "message": dict(msg)}

    @staticmethod
    def _stream_text(p: Mapping[str, Any]) -> str:
        text = str(p.get("markdown_text") or "")
        for chunk in p.get("chunks") or []:
            if isinstance(chunk, dict) and chunk.get("type") == "markdown_text":
                text += str(chunk.get("text", ""))
        return text

    def _page(
        self, items: list[Any], p: Mapping[str, Any], default_limit: int = 100
    ) -> tuple[list[Any], str]:
        start = int(p.get("cursor") or 0)
        limit = int(p.get("limit") or default_limit) or default_limit
        page = items[start : start + limit]
        nxt = str(start + limit) if start + limit < len(items) else ""
        return page, nxt

    def _m_conversations_list(self, p: dict[str, Any]) -> dict[str, Any]:
        types = str(p.get("types") or "public_channel").split(",")
        exclude_archived = str(p.get("exclude_archived", "")).lower() in ("1", "true")

        def wanted(ch: Channel) -> bool:
            kind = "im" if ch.is_im else "private_channel" if ch.is_private else "public_channel"
            return kind in types and not (exclude_archived and ch.is_archived)

        chans = [ch.to_api(self.bot_user_id) for ch in self.channels.values() if wanted(ch)]
        page, nxt = self._page(chans, p)
        return {"channels": page, "response_metadata": {"next_cursor": nxt}}

    def _m_conversations_info(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"channel": self._channel(p.get("channel")).to_api(self.bot_user_id)}

    def _m_conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")
        oldest = float(p.get("oldest") or 0)
        latest = float(p.get("latest") or 0) or float("inf")

        def in_window(ts: float) -> bool:
            if inclusive:
                return oldest <= ts <= latest
            return oldest < ts < latest or (ts == oldest == 0)

        msgs = [dict(m) for m in reversed(ch.messages) if self._is_top_level(m) and in_window(float(m["ts"]))]
        page, nxt = self._page(msgs, p)
        return {"messages": page, "has_more": bool(nxt), "response_metadata": {"next_cursor": nxt}}

    def _m_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        parent = self._find(ch, p.get("ts"))
        if parent is None:
            raise SlackApiFault("thread_not_found")
        root = parent.get("thread_ts") or parent["ts"]
        thread = [self._find(ch, root) or parent] + [
            m
            for m in ch.messages
            if m.get("thread_ts") == root and m["ts"] != root and m.get("subtype") != "thread_broadcast"
        ]
        page, nxt = self._page([dict(m) for m in thread], p, default_limit=1000)
        return {"messages": page, "has_more": bool(nxt), "response_metadata": {"next_cursor": nxt}}

    def _m_conversations_join(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        if ch.is_private:
            raise SlackApiFault("method_not_supported_for_channel_type")
        ch.members.add(self.bot_user_id)
        return {"channel": ch.to_api(self.bot_user_id)}

    def _m_conversations_create(self, p: dict[str, Any]) -> dict[str, Any]:
        name = str(p.get("name") or "")
        if not name:
            raise SlackApiFault("invalid_name_required")
        if any(ch.name == name for ch in self.channels.values()):
            raise SlackApiFault("name_taken")
        private = str(p.get("is_private", "")).lower() in ("1", "true")
        cid = self.add_channel(name, is_private=private)
        return {"channel": self.channels[cid].to_api(self.bot_user_id)}

    def _m_conversations_members(self, p: dict[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        page, nxt = self._page(sorted(ch.members), p)
        return {"members": page, "response_metadata": {"next_cursor": nxt}}

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user")))
        if user is None:
            raise SlackApiFault("user_not_found")
        return {"user": user.to_api()}

    def _m_users_list(self, p: dict[str, Any]) -> dict[str, Any]:
        page, nxt = self._page([u.to_api() for u in self.users.values()], p)
        return {"members": page, "response_metadata": {"next_cursor": nxt}}

    def _m_usergroups_users_list(self, p: dict[str, Any]) -> dict[str, Any]:
        members = self.user_groups.get(str(p.get("usergroup")))
        if members is None:
            raise SlackApiFault("no_such_subteam")
        return {"users": list(members)}

    def _reaction_target(self, p: Mapping[str, Any]) -> dict[str, Any]:
        ch = self._channel(p.get("channel"))
        msg = self._find(ch, p.get("timestamp"))
        if msg is None:
            raise SlackApiFault("message_not_found")
        if not p.get("name"):
            raise SlackApiFault("invalid_name")
        return msg

    def _m_reactions_add(self, p: dict[str, Any]) -> dict[str, Any]:
        msg = self._reaction_target(p)
        name = str(p["name"]).strip(":")
        reactions: list[dict[str, Any]] = msg.setdefault("reactions", [])
        r = next((r for r in reactions if r["name"] == name), None)
        if r is None:
            r = {"name": name, "users": [], "count": 0}
            reactions.append(r)
        if self.bot_user_id in r["users"]:
            raise SlackApiFault("already_reacted")
        r["users"].append(self.bot_user_id)
        r["count"] = len(r["users"])
        return {}

    def _m_reactions_remove(self, p: dict[str, Any]) -> dict[str, Any]:
        msg = self._reaction_target(p)
        name = str(p["name"]).strip(":")
        reactions: list[dict[str, Any]] = msg.get("reactions", [])
        r = next((r for r in reactions if r["name"] == name and self.bot_user_id in r["users"]), None)
        if r is None:
            raise SlackApiFault("no_reaction")
        r["users"].remove(self.bot_user_id)
        r["count"] = len(r["users"])
        if not r["users"]:
            reactions.remove(r)
        return {}

    def _view(self, view: Any, view_id: str | None = None, **extra: Any) -> dict[str, Any]:
        if not isinstance(view, dict) or "type" not in view:
            raise SlackApiFault("invalid_arguments")
        self._seq += 1
        vid = view_id or f"V{self._seq:08d}"
        stored = {
            **view,
            "id": vid,
            "team_id": TEAM_ID,
            "app_id": self.app_id,
            "hash": f"{self._seq}.fake",
            **extra,
        }
        self.views[vid] = stored
        return stored

    def _m_views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("trigger_id"):
            raise SlackApiFault("invalid_trigger_id")
        return {"view": self._view(p.get("view"))}

    def _m_views_push(self, p: dict[str, Any]) -> dict[str, Any]:
        return self._m_views_open(p)

    def _m_views_update(self, p: dict[str, Any]) -> dict[str, Any]:
        vid = p.get("view_id")
        if not vid and p.get("external_id"):
            vid = next((k for k, v in self.views.items() if v.get("external_id") == p["external_id"]), None)
        if not vid or vid not in self.views:
            raise SlackApiFault("not_found")
        return {"view": self._view(p.get("view"), str(vid))}

    def _m_views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        uid = str(p.get("user_id") or "")
        if uid not in self.users:
            raise SlackApiFault("user_not_found")
        view = self._view(p.get("view"), self.home_views.get(uid, {}).get("id"))
        self.home_views[uid] = view
        return {"view": view}

    def _m_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("filename") or not p.get("length"):
            raise SlackApiFault("invalid_arguments")
        self._seq += 1
        fid = f"F{self._seq:08d}"
        self.files[fid] = {
            "id": fid,
            "name": p["filename"],
            "title": p["filename"],
            "length": int(p["length"]),
        }
        return {"upload_url": f"{self.base_url}/upload/v1/{fid}", "file_id": fid}

    def _m_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        entries = p.get("files")
        if not isinstance(entries, list) or not entries:
            raise SlackApiFault("invalid_arguments")
        out: list[dict[str, Any]] = []
        for e in entries:
            f = self.files.get(str(e.get("id")))
            if f is None or "content" not in f:
                raise SlackApiFault("file_not_found")
            f["title"] = e.get("title") or f["name"]
            out.append({k: v for k, v in f.items() if k != "content"})
        channels = [c for c in [p.get("channel_id"), *str(p.get("channels") or "").split(",")] if c]
        for cref in channels:
            ch = self._channel(cref)
            thread_ts = p.get("thread_ts") or None
            if thread_ts and self._find(ch, str(thread_ts)) is None:
                raise SlackApiFault("thread_not_found")
            msg = self._bot_message(
                {"text": p.get("initial_comment") or "", "thread_ts": thread_ts}, self._next_ts()
            )
            msg["files"] = out
            msg["upload"] = True
            self._store(ch, msg)
            for f in out:
                self.files[f["id"]].setdefault("channels", []).append(ch.id)
        return {"files": out}

    def _m_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        self._seq += 1
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket=fake-{self._seq}"}

    def _m_assistant_threads_setStatus(self, p: dict[str, Any]) -> dict[str, Any]:
        self._channel(p.get("channel_id"))
        return {}

    def _m_assistant_threads_setTitle(self, p: dict[str, Any]) -> dict[str, Any]:
        self._channel(p.get("channel_id"))
        return {}

    def _m_assistant_threads_setSuggestedPrompts(self, p: dict[str, Any]) -> dict[str, Any]:
        self._channel(p.get("channel_id"))
        return {}


def wait_for(predicate: Callable[[], object], timeout: float = 5.0, interval: float = 0.02) -> bool:
    """Poll `predicate()` until it is truthy or `timeout` seconds pass; returns its last truthiness.

    For tests whose subject posts from a background thread (Bolt acks first, works later).
    """
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
