"""Alert channels: deliver one event (webhook) or one digest of a run's events (Slack, email).

    channels = channels_from_config(config["channels"], where="monitor.yaml channels")
    ops = channels["ops"]
    result = ops.send([event], idempotency_key="delivery-42")   # ops.digest: a batch per send
    result.outcome   # DELIVERED | RETRY (result.retry_after: the receiver's Retry-After) | PERMANENT

An event is the JSON object a webhook receives: ``{"event": "new-finding", "image":
{"digest", "repository", "tags", ...}, "finding": {the object 'scan -o json' writes},
"occurredAt": "..."}``; events that are not about one finding may carry a ``summary``.

- webhook: one POST per event, the event's JSON as the body, headers ``X-Hullcheck-Event``
  (its type), ``X-Hullcheck-Delivery`` (the idempotency key: the same for every retry of one
  (event, channel) delivery, so a receiver drops duplicates) and ``X-Hullcheck-Signature:
  sha256=<hex HMAC-SHA256 of the exact body bytes with the channel's secret>``
  (``verify_signature`` checks it);
- slack: one incoming-webhook message per batch, a digest ("3 new critical findings in
  registry.example/app:1.2 (sha256:abcd…)", a few lines each, "and 40 more");
- email: one SMTP message per batch (the same digest as text and HTML), STARTTLS when the
  server offers it (required before a password is sent), Message-ID derived from the key.

The caller owns retries and backoff. RETRY: the receiver may take it later (HTTP 5xx, 408,
429, SMTP 4xx, no answer). PERMANENT: it never will as configured (other 4xx, a redirect
to another origin, a refused login, an untrusted certificate).

Secrets — webhook secrets, SMTP passwords, and webhook URLs, whose paths often hold a token
as Slack's do — never appear in a result, an error or a repr: a URL is shown as
``scheme://host[:port]/…``.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import os
import re
import smtplib
import ssl
import urllib.parse
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.utils import formataddr, formatdate, parseaddr, parsedate_to_datetime
from enum import StrEnum
from typing import Any, ClassVar

import httpx

from hullcheck import __version__, deadline
from hullcheck.errors import FormatError, VerificationError, printable
from hullcheck.model import Severity

DEFAULT_TIMEOUT = 10.0  # seconds per delivery attempt
MAX_TIMEOUT = 300.0
MAX_RETRY_AFTER = 86400.0  # a receiver's Retry-After is honoured up to a day
MAX_REDIRECTS = 3  # 307/308 to the same origin only
MAX_GROUPS = 10  # (image, event type) groups shown in a digest
MAX_LINES = 5  # events listed under each group
SIGNATURE_HEADER = "X-Hullcheck-Signature"
EVENT_HEADER = "X-Hullcheck-Event"
DELIVERY_HEADER = "X-Hullcheck-Delivery"

_USER_AGENT = f"hullcheck/{__version__}"
_KEY = re.compile(r"[A-Za-z0-9._:@/+=-]{1,200}")  # idempotency keys: header- and id-safe
_EVENT = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_ENV = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ADDRESS = re.compile(r"[^@\s<>,;\"]+@[^@\s<>,;\"]+")
_SNIPPET = 2048  # bytes of a receiver's answer read for the detail
_REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
_MAIL_POLICY = policy.SMTP.clone(max_line_length=998)


class ChannelConfigError(FormatError):
    default_hint = "check the channels: section of the monitor config (docs/monitor-channels.md)"


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    PERMANENT = "permanent"


@dataclass(frozen=True, slots=True, kw_only=True)
class DeliveryResult:
    """How one send went; ``detail`` is one line, free of secrets."""

    outcome: Outcome
    detail: str
    retry_after: float | None = None  # seconds the receiver asked to wait (RETRY only)

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.DELIVERED

    @classmethod
    def delivered(cls, detail: str) -> DeliveryResult:
        return cls(outcome=Outcome.DELIVERED, detail=_line(detail))

    @classmethod
    def retry(cls, detail: str, after: float | None = None) -> DeliveryResult:
        return cls(outcome=Outcome.RETRY, detail=_line(detail), retry_after=after)

    @classmethod
    def permanent(cls, detail: str) -> DeliveryResult:
        return cls(outcome=Outcome.PERMANENT, detail=_line(detail))


def _line(text: str) -> str:
    return " ".join(printable(text).split())


# --- Signatures --------------------------------------------------------------------------


def sign(body: bytes, secret: bytes | str) -> str:
    """The ``X-Hullcheck-Signature`` value for ``body``: ``sha256=<hex HMAC-SHA256>``."""
    key = secret.encode() if isinstance(secret, str) else secret
    return "sha256=" + hmac.new(key, body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, header: str | None, secret: bytes | str) -> None:
    """For receivers: raise VerificationError unless ``header`` is the signature of the exact
    ``body`` bytes received with ``secret``. Compared in constant time."""
    if not header:
        raise VerificationError(f"no {SIGNATURE_HEADER} header")
    expected = sign(body, secret).encode()
    if not hmac.compare_digest(expected, header.strip().lower().encode("utf-8", "replace")):
        raise VerificationError(f"{SIGNATURE_HEADER} does not match the body")


# --- Channels ----------------------------------------------------------------------------


class Channel(ABC):
    """Delivers events to one destination. ``digest``: True when one send carries a batch
    (Slack, email), False when it carries exactly one event (webhook)."""

    kind: ClassVar[str]
    digest: ClassVar[bool]

    def __init__(self, *, name: str, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.name = name
        self.timeout = timeout

    @abstractmethod
    def send(self, events: Sequence[Mapping[str, Any]], idempotency_key: str) -> DeliveryResult:
        """Deliver ``events`` once; the same key for every retry of the same delivery."""

    @abstractmethod
    def target(self) -> str:
        """Where it delivers, safe to show (no secrets)."""

    @abstractmethod
    def close(self) -> None:
        """Release what the channel keeps open."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} {self.target()}>"


def _check_key(key: str) -> None:
    if not _KEY.fullmatch(key):
        raise ValueError("an idempotency key is 1-200 characters of A-Z a-z 0-9 . _ : @ / + = -")


class _Redactor:
    """Removes known secrets from text meant for people (details, errors)."""

    def __init__(self, *secrets: str) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for s in self._secrets:
            text = text.replace(s, "…")
        return text


def shown_url(url: str | httpx.URL) -> str:
    """A URL as messages show it: scheme, host and port; the path and query (which may hold
    a token) as ``/…``; user information never."""
    u = httpx.URL(str(url))
    netloc = u.netloc.decode("ascii", "replace")
    hidden = "/…" if (u.raw_path not in (b"", b"/")) else ""
    return f"{u.scheme}://{netloc}{hidden}"


class _HttpChannel(Channel):
    """A channel that POSTs JSON: redirects are not followed except 307/308 to the same
    scheme, host and port (the body is re-sent to where the receiver itself moved)."""

    def __init__(self, *, name: str, url: str, timeout: float = DEFAULT_TIMEOUT,
                 verify: ssl.SSLContext | bool = True, http: httpx.Client | None = None,
                 secrets: Iterable[str] = ()) -> None:
        super().__init__(name=name, timeout=timeout)
        self._url = httpx.URL(url)
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        self._redact = _Redactor(url, path, parts.query, *secrets)
        self._http = http or httpx.Client(verify=verify, follow_redirects=False,
                                          headers={"User-Agent": _USER_AGENT})

    def target(self) -> str:
        return shown_url(self._url)

    def close(self) -> None:
        self._http.close()

    def _post(self, body: bytes, headers: Mapping[str, str]) -> DeliveryResult:
        url = self._url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                with self._http.stream("POST", url, content=body, headers=headers,
                                       timeout=deadline.clamp(self.timeout)) as resp:
                    head = _read_some(resp)
            except httpx.TimeoutException:
                return DeliveryResult.retry(f"{self.target()}: no answer within "
                                            f"{self.timeout:g}s")
            except httpx.HTTPError as exc:
                return self._no_answer(exc)
            if resp.status_code not in _REDIRECT_STATUSES:
                return self._judge(resp.status_code, resp.headers, head)
            moved = self._redirect(url, resp)
            if isinstance(moved, DeliveryResult):
                return moved
            url = moved
        return DeliveryResult.permanent(f"{self.target()}: more than {MAX_REDIRECTS} redirects")

    def _no_answer(self, exc: httpx.HTTPError) -> DeliveryResult:
        if _caused_by(exc, ssl.SSLCertVerificationError):
            return DeliveryResult.permanent(
                f"{self.target()}: its TLS certificate is not trusted (set ca-file to the CA "
                "that signed it)")
        why = self._redact(str(exc)) or type(exc).__name__
        return DeliveryResult.retry(f"{self.target()}: no answer ({why})")

    def _redirect(self, url: httpx.URL, resp: httpx.Response) -> httpx.URL | DeliveryResult:
        status = resp.status_code
        location = resp.headers.get("location", "")
        if not location:
            return DeliveryResult.permanent(f"{self.target()}: HTTP {status} without a Location")
        try:
            moved = url.join(location)
        except httpx.InvalidURL:
            return DeliveryResult.permanent(f"{self.target()}: HTTP {status} to an invalid URL")
        if status in (307, 308) and _origin(moved) == _origin(self._url):
            return moved
        return DeliveryResult.permanent(
            f"{self.target()}: HTTP {status} redirect to {self._redact(shown_url(moved))} not "
            "followed (only 307/308 to the same scheme, host and port are); configure the "
            "URL it points to")

    def _judge(self, status: int, headers: httpx.Headers, head: bytes) -> DeliveryResult:
        said = self._redact(" ".join(head.decode("utf-8", "replace").split())[:200])
        detail = f"{self.target()}: HTTP {status}" + (f": {said}" if said else "")
        if 200 <= status < 300:
            return DeliveryResult.delivered(detail)
        if status in (408, 429) or status >= 500:
            return DeliveryResult.retry(detail, after=retry_after(headers.get("retry-after")))
        return DeliveryResult.permanent(detail)


def _read_some(resp: httpx.Response) -> bytes:
    """The start of a receiver's answer (it may be endless): enough for a detail line. The
    status has been given, so a body that breaks off or does not decode is only shorter."""
    out = b""
    try:
        for chunk in resp.iter_bytes():
            out += chunk
            if len(out) >= _SNIPPET:
                break
    except httpx.HTTPError:
        pass
    return out[:_SNIPPET]


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    default = {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, url.port or default


def _caused_by(exc: BaseException, kind: type[BaseException]) -> bool:
    seen: BaseException | None = exc
    for _ in range(10):  # httpx → httpcore → ssl: a short chain
        if seen is None:
            return False
        if isinstance(seen, kind):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from an HTTP ``Retry-After`` (delta-seconds or an HTTP date), within
    [0, MAX_RETRY_AFTER]; None when absent or unreadable."""
    if not value:
        return None
    text = value.strip()
    if text.isdigit():
        seconds = float(text[:12])
    else:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class WebhookChannel(_HttpChannel):
    """One signed JSON POST per event."""

    kind = "webhook"
    digest = False

    def __init__(self, *, name: str, url: str, secret: str, timeout: float = DEFAULT_TIMEOUT,
                 verify: ssl.SSLContext | bool = True, http: httpx.Client | None = None) -> None:
        super().__init__(name=name, url=url, timeout=timeout, verify=verify, http=http,
                         secrets=(secret,))
        self._secret = secret.encode()

    def send(self, events: Sequence[Mapping[str, Any]], idempotency_key: str) -> DeliveryResult:
        if len(events) != 1:
            raise ValueError("a webhook channel delivers exactly one event per send")
        _check_key(idempotency_key)
        event = events[0]
        body = json.dumps(event, separators=(",", ":"), ensure_ascii=False).encode()
        kind = str(event.get("event", ""))
        headers = {
            "Content-Type": "application/json",
            EVENT_HEADER: kind if _EVENT.fullmatch(kind) else "unknown",
            DELIVERY_HEADER: idempotency_key,
            SIGNATURE_HEADER: sign(body, self._secret),
        }
        return self._post(body, headers)


class SlackChannel(_HttpChannel):
    """A Slack incoming webhook: one digest message per batch."""

    kind = "slack"
    digest = True

    def send(self, events: Sequence[Mapping[str, Any]], idempotency_key: str) -> DeliveryResult:
        if not events:
            raise ValueError("nothing to send")
        _check_key(idempotency_key)
        body = json.dumps(slack_message(events), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: idempotency_key}
        return self._post(body, headers)


class EmailChannel(Channel):
    """One SMTP message per batch: the digest as plain text with an HTML alternative."""

    kind = "email"
    digest = True

    def __init__(self, *, name: str, host: str, port: int, sender: str,
                 recipients: Sequence[str], starttls: bool = True, username: str = "",
                 password: str = "", timeout: float = DEFAULT_TIMEOUT,
                 tls: ssl.SSLContext | None = None) -> None:
        super().__init__(name=name, timeout=timeout)
        self.host, self.port = host, port
        self.sender = sender
        self.recipients = tuple(recipients)
        self.starttls = starttls
        self.username = username
        self._password = password
        self._tls = tls or ssl.create_default_context()
        self._redact = _Redactor(password)

    def target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"smtp://{host}:{self.port}"

    def close(self) -> None:
        """Nothing is kept open: each send is one SMTP session."""

    def message(self, events: Sequence[Mapping[str, Any]], idempotency_key: str) -> EmailMessage:
        """The message ``send`` delivers (also for previews and tests)."""
        _check_key(idempotency_key)
        d = digest(events)
        # Headers up to SMTP's 998-character lines, unfolded: folding an encoded word (a
        # "…" in a subject) makes some readers show doubled spaces.
        msg = EmailMessage(policy=_MAIL_POLICY)
        msg["Subject"] = _line(f"[hullcheck] {d.title}")[:250]
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg["Date"] = formatdate(usegmt=True)
        msg["Message-ID"] = message_id(idempotency_key, self.sender)
        msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies
        msg[DELIVERY_HEADER] = idempotency_key
        msg.set_content(d.text())
        msg.add_alternative(d.html(), subtype="html")
        return msg

    def send(self, events: Sequence[Mapping[str, Any]], idempotency_key: str) -> DeliveryResult:
        if not events:
            raise ValueError("nothing to send")
        msg = self.message(events, idempotency_key)
        try:
            return self._deliver(msg)
        except smtplib.SMTPRecipientsRefused as exc:
            return self._refused(exc.recipients)
        except smtplib.SMTPResponseException as exc:  # also refused logins and senders
            what = self._redact(exc.smtp_error.decode("utf-8", "replace")
                                if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error))
            detail = f"{self.target()}: SMTP {exc.smtp_code} {what}"
            if 400 <= exc.smtp_code < 500:
                return DeliveryResult.retry(detail)
            return DeliveryResult.permanent(detail)
        except smtplib.SMTPNotSupportedError as exc:
            return DeliveryResult.permanent(f"{self.target()}: {self._redact(str(exc))}")
        except ssl.SSLCertVerificationError:
            return DeliveryResult.permanent(
                f"{self.target()}: its TLS certificate is not trusted (set ca-file to the CA "
                "that signed it)")
        except (OSError, smtplib.SMTPException) as exc:  # refused, reset, timed out, dropped
            why = self._redact(str(exc)) or type(exc).__name__
            return DeliveryResult.retry(f"{self.target()}: no answer ({why})")

    def _deliver(self, msg: EmailMessage) -> DeliveryResult:
        with smtplib.SMTP(self.host, self.port, timeout=deadline.clamp(self.timeout)) as smtp:
            smtp.ehlo()
            secure = False
            if self.starttls and smtp.has_extn("starttls"):
                smtp.starttls(context=self._tls)
                smtp.ehlo()
                secure = True
            if self.username:
                if not secure:
                    return DeliveryResult.permanent(
                        f"{self.target()}: the server does not offer STARTTLS; the password is "
                        "not sent in clear")
                if not smtp.has_extn("auth"):
                    return DeliveryResult.permanent(f"{self.target()}: the server offers no "
                                                    "login (AUTH), but a username is configured")
                smtp.login(self.username, self._password)
            refused = smtp.send_message(msg)
        tls = "STARTTLS" if secure else "no TLS"
        if refused:
            return DeliveryResult.delivered(
                f"{self.target()}: accepted ({tls}) except " + _refusals(refused))
        return DeliveryResult.delivered(f"{self.target()}: accepted for "
                                        f"{len(self.recipients)} recipient(s) ({tls})")

    def _refused(self, refused: Mapping[str, tuple[int, bytes]]) -> DeliveryResult:
        detail = f"{self.target()}: every recipient refused: {_refusals(refused)}"
        if any(400 <= code < 500 for code, _ in refused.values()):
            return DeliveryResult.retry(detail)
        return DeliveryResult.permanent(detail)


def _refusals(refused: Mapping[str, tuple[int, bytes]]) -> str:
    return "; ".join(f"{rcpt} ({code} {msg.decode('utf-8', 'replace')})"
                     for rcpt, (code, msg) in sorted(refused.items()))


def message_id(idempotency_key: str, sender: str) -> str:
    """The same Message-ID for every retry of one delivery, so mail systems drop duplicates."""
    domain = parseaddr(sender)[1].rpartition("@")[2] or "hullcheck.invalid"
    return f"<hullcheck.{hashlib.sha256(idempotency_key.encode()).hexdigest()[:32]}@{domain}>"


# --- Digests -----------------------------------------------------------------------------

_FINDING_EVENTS = {"new-finding": "new", "fixed-finding": "fixed", "finding-changed": "changed"}


@dataclass(frozen=True, slots=True)
class Group:
    """Events of one type about one image."""

    headline: str
    lines: tuple[str, ...]
    hidden: int  # lines left out
    count: int  # events in the group
    rank: int  # the worst severity's rank, for ordering


@dataclass(frozen=True, slots=True)
class Digest:
    title: str
    groups: tuple[Group, ...]
    hidden_groups: int
    hidden_events: int

    @property
    def tail(self) -> str:
        if not self.hidden_groups:
            return ""
        return f"and {self.hidden_events} more event{_s(self.hidden_events)} in " \
               f"{self.hidden_groups} more group{_s(self.hidden_groups)}"

    def text(self) -> str:
        out = [self.title, ""]
        for g in self.groups:
            out.append(g.headline)
            out.extend(f"  - {line}" for line in g.lines)
            if g.hidden:
                out.append(f"  and {g.hidden} more")
            out.append("")
        if self.tail:
            out.append(self.tail)
        return "\n".join(out).rstrip() + "\n"

    def html(self) -> str:
        e = html.escape
        out = [f"<html><body><h2>{e(self.title)}</h2>"]
        for g in self.groups:
            out.append(f"<h3>{e(g.headline)}</h3><ul>")
            out.extend(f"<li>{e(line)}</li>" for line in g.lines)
            out.append("</ul>")
            if g.hidden:
                out.append(f"<p>and {g.hidden} more</p>")
        if self.tail:
            out.append(f"<p>{e(self.tail)}</p>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"


def _s(n: int) -> str:
    return "" if n == 1 else "s"


def _text(value: object, limit: int = 200) -> str:
    """A field of an event as one printable line (events are ours, but their strings come
    from images and advisories)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        return ""
    line = _line(value)
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def image_label(image: Mapping[str, Any]) -> str:
    """``registry.example/app:1.2 (sha256:abcdef012345…)``."""
    repo = _text(image.get("repository"))
    tags = image.get("tags")
    tag = _text(tags[0]) if isinstance(tags, list) and tags else ""
    dig = _text(image.get("digest"))
    short = dig if len(dig) <= 19 else dig[:19] + "…"
    name = f"{repo}:{tag}" if repo and tag else repo
    if name and short:
        return f"{name} ({short})"
    return name or short or "an image"


def _rank(severity: str) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return Severity.UNKNOWN.rank


def _finding_line(event: Mapping[str, Any]) -> str:
    f = _mapping(event.get("finding"))
    pkg = _mapping(f.get("package"))
    line = f"{_text(f.get('id')) or 'a finding'} ({_text(f.get('severity')) or 'unknown'}) in " \
           f"{_text(pkg.get('name')) or 'a package'} {_text(pkg.get('version'))}".rstrip()
    fixed = f.get("fixedVersions")
    if isinstance(fixed, list) and fixed and _text(fixed[0]):
        line += f", fixed in {_text(fixed[0])}"
    if f.get("kev"):
        line += ", known exploited (KEV)"
    detail = _text(event.get("summary"))
    return f"{line}: {detail}" if detail else line


def _headline(kind: str, events: Sequence[Mapping[str, Any]], label: str) -> str:
    n = len(events)
    if kind in _FINDING_EVENTS:
        sev = Counter(_text(_mapping(e.get("finding")).get("severity")) or "unknown"
                      for e in events)
        ordered = sorted(sev.items(), key=lambda kv: -_rank(kv[0]))
        word = f" {ordered[0][0]}" if len(ordered) == 1 else ""
        split = "" if len(ordered) == 1 else \
            " (" + ", ".join(f"{c} {s}" for s, c in ordered) + ")"
        if kind == "new-finding":
            return f"{n} new{word} finding{_s(n)}{split} in {label}"
        return f"{n}{word} finding{_s(n)} {_FINDING_EVENTS[kind]}{split} in {label}"
    return {
        "policy-failed": f"policy failed for {label}",
        "base-stale": f"base image out of date for {label}",
        "secret-found": f"{n} secret{_s(n)} found in {label}",
        "image-unsigned": f"{label} is not signed",
    }.get(kind, f"{n} {kind or 'unnamed'} event{_s(n)} for {label}")


def _group(kind: str, events: Sequence[Mapping[str, Any]]) -> Group:
    label = image_label(_mapping(events[0].get("image")))
    if kind in _FINDING_EVENTS:
        ordered = sorted(events, key=lambda e: -_rank(
            _text(_mapping(e.get("finding")).get("severity"))))
        lines = [_finding_line(e) for e in ordered]
        rank = max(_rank(_text(_mapping(e.get("finding")).get("severity"))) for e in events)
    else:
        lines = [t for e in events if (t := _text(e.get("summary")))]
        rank = Severity.HIGH.rank if kind in ("policy-failed", "secret-found") else \
            Severity.MEDIUM.rank
    return Group(headline=_headline(kind, events, label), lines=tuple(lines[:MAX_LINES]),
                 hidden=max(len(lines) - MAX_LINES, 0), count=len(events), rank=rank)


def digest(events: Sequence[Mapping[str, Any]]) -> Digest:
    """A batch summarised: events grouped by (image, type), worst first, a few lines per
    group, the rest counted."""
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for e in events:
        image = _mapping(e.get("image"))
        key = (_text(image.get("digest")) or image_label(image), _text(e.get("event"), 64))
        groups.setdefault(key, []).append(e)
    built = sorted((_group(kind, evs) for (_, kind), evs in groups.items()),
                   key=lambda g: -g.rank)  # stable: equal ranks keep the order events came
    shown = tuple(built[:MAX_GROUPS])
    hidden = built[MAX_GROUPS:]
    title = shown[0].headline if shown else "no events"
    if len(built) > 1:
        title += f" (and {len(built) - 1} more group{_s(len(built) - 1)})"
    return Digest(title=title, groups=shown, hidden_groups=len(hidden),
                  hidden_events=sum(g.count for g in hidden))


def _mrkdwn(text: str) -> str:
    """Slack's escaping: &, <, > (a name must not become a link or a mention)."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(events: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """An incoming-webhook message: ``text`` (the notification line) and ``blocks``: a header,
    one section per group (Slack allows 3,000 characters a section, 50 blocks)."""
    d = digest(events)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": d.title[:150]}}]
    for g in d.groups:
        lines = [f"*{_mrkdwn(g.headline)}*", *(f"• {_mrkdwn(x)}" for x in g.lines)]
        if g.hidden:
            lines.append(f"_and {g.hidden} more_")
        blocks.append({"type": "section", "text": {"type": "mrkdwn",
                                                   "text": "\n".join(lines)[:3000]}})
    if d.tail:
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": d.tail}]})
    return {"text": _mrkdwn(f"hullcheck: {d.title}"), "blocks": blocks}


# --- Configuration -----------------------------------------------------------------------

_COMMON = frozenset({"name", "type", "timeout", "ca-file"})
_KEYS = {
    "webhook": _COMMON | {"url", "url-env", "secret-env"},
    "slack": _COMMON | {"url", "url-env"},
    "email": _COMMON | {"smtp", "from", "to", "starttls", "username", "password-env"},
}


class _Config:
    """Reads one channel's mapping; every problem is a one-line ChannelConfigError that
    names the channel and never quotes a secret's value."""

    def __init__(self, doc: Mapping[str, Any], where: str, environ: Mapping[str, str]) -> None:
        self.doc, self.where, self.environ = doc, where, environ

    def fail(self, message: str) -> ChannelConfigError:
        return ChannelConfigError(f"{self.where}: {message}")

    def string(self, key: str, *, required: bool = False) -> str:
        value = self.doc.get(key)
        if value is None:
            if required:
                raise self.fail(f"'{key}' is required")
            return ""
        if not isinstance(value, str) or not value.strip():
            raise self.fail(f"'{key}' must be a non-empty string")
        if any(c in value for c in "\r\n\x00"):
            raise self.fail(f"'{key}' must be one line")
        return value.strip()

    def env(self, key: str, *, required: bool = False) -> str:
        """The value of the environment variable that ``key`` names."""
        var = self.string(key, required=required)
        if not var:
            return ""
        if not _ENV.fullmatch(var):
            raise self.fail(f"'{key}' must name an environment variable")
        value = self.environ.get(var, "")
        if not value:
            raise self.fail(f"{key}: the environment variable {var} is not set")
        return value

    def url(self) -> str:
        inline, var = self.doc.get("url"), self.doc.get("url-env")
        if (inline is None) == (var is None):
            raise self.fail("give exactly one of 'url' and 'url-env'")
        url = self.string("url") if inline is not None else self.env("url-env")
        where = "url" if inline is not None else f"url-env {self.doc['url-env']}"
        try:
            parsed = httpx.URL(url)
        except httpx.InvalidURL:
            raise self.fail(f"{where} is not a valid URL") from None
        if parsed.scheme not in ("http", "https") or not parsed.host:
            raise self.fail(f"{where} must be an http:// or https:// URL with a host")
        if parsed.userinfo:
            raise self.fail(f"{where} must not carry a user name or password")
        return url

    def timeout(self) -> float:
        value = self.doc.get("timeout", DEFAULT_TIMEOUT)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                not 0 < value <= MAX_TIMEOUT:
            raise self.fail(f"'timeout' must be a number of seconds in (0, {MAX_TIMEOUT:g}]")
        return float(value)

    def tls(self) -> ssl.SSLContext:
        ca = self.string("ca-file")
        try:
            return ssl.create_default_context(cafile=ca or None)
        except (OSError, ssl.SSLError) as exc:
            raise self.fail(f"cannot use ca-file {ca}: {getattr(exc, 'strerror', None) or exc}") \
                from None

    def address(self, key: str, value: object) -> str:
        if not isinstance(value, str) or any(c in value for c in "\r\n\x00"):
            raise self.fail(f"'{key}' must be one email address per string")
        name, addr = parseaddr(value)
        if not _ADDRESS.fullmatch(addr):
            raise self.fail(f"'{key}': {value!r} is not an email address")
        return formataddr((name, addr)) if name else addr

    def smtp(self) -> tuple[str, int]:
        spec = self.string("smtp", required=True)
        try:
            parts = urllib.parse.urlsplit(f"//{spec}")
            host, port = parts.hostname, parts.port or 587
        except ValueError:
            raise self.fail(f"'smtp' must be HOST or HOST:PORT, not {spec!r}") from None
        if not host or parts.path or parts.username:
            raise self.fail(f"'smtp' must be HOST or HOST:PORT, not {spec!r}")
        return host, port


def channel_from_config(doc: object, *, where: str = "channel",
                        environ: Mapping[str, str] | None = None) -> Channel:
    """One channel from its config mapping ({name, type, url | url-env, secret-env, smtp,
    from, to, starttls, username, password-env, timeout, ca-file}); secrets are read from the
    environment now, so a missing one is a config error, not a failed delivery later."""
    if not isinstance(doc, Mapping):
        raise ChannelConfigError(f"{where}: a channel is a mapping with 'name' and 'type'")
    name = doc.get("name")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ChannelConfigError(f"{where}: 'name' must be 1-64 letters, digits, '.', '_' or "
                                 "'-'")
    c = _Config(doc, f"{where} (channel {name})", os.environ if environ is None else environ)
    kind = doc.get("type")
    if kind not in _KEYS:
        raise c.fail(f"'type' must be one of {', '.join(_KEYS)}")
    unknown = sorted(str(k) for k in doc if k not in _KEYS[kind])
    if unknown:
        raise c.fail(f"unknown key {unknown[0]!r} for a {kind} channel (known: "
                     f"{', '.join(sorted(_KEYS[kind]))})")
    if kind == "webhook":
        return WebhookChannel(name=name, url=c.url(), secret=c.env("secret-env", required=True),
                              timeout=c.timeout(), verify=c.tls())
    if kind == "slack":
        return SlackChannel(name=name, url=c.url(), timeout=c.timeout(), verify=c.tls())
    return _email(c, name)


def _email(c: _Config, name: str) -> EmailChannel:
    host, port = c.smtp()
    to = c.doc.get("to")
    recipients = [to] if isinstance(to, str) else to
    if not isinstance(recipients, list) or not recipients:
        raise c.fail("'to' must be an address or a non-empty list of addresses")
    starttls = c.doc.get("starttls", True)
    if not isinstance(starttls, bool):
        raise c.fail("'starttls' must be true or false")
    username = c.string("username")
    if bool(username) != (c.doc.get("password-env") is not None):
        raise c.fail("'username' and 'password-env' go together")
    if username and not starttls:
        raise c.fail("a login needs 'starttls: true' (the password is never sent in clear)")
    return EmailChannel(
        name=name, host=host, port=port,
        sender=c.address("from", c.doc.get("from")),
        recipients=[c.address("to", r) for r in recipients],
        starttls=starttls, username=username, password=c.env("password-env"),
        timeout=c.timeout(), tls=c.tls())


def channels_from_config(docs: object, *, where: str = "channels",
                         environ: Mapping[str, str] | None = None) -> dict[str, Channel]:
    """{name: channel} from the config's list of channels; names are unique."""
    if not isinstance(docs, list):
        raise ChannelConfigError(f"{where}: expected a list of channels")
    out: dict[str, Channel] = {}
    try:
        for i, doc in enumerate(docs):
            channel = channel_from_config(doc, where=f"{where}[{i}]", environ=environ)
            if channel.name in out:
                channel.close()
                raise ChannelConfigError(f"{where}[{i}]: a channel named {channel.name!r} is "
                                         "already defined")
            out[channel.name] = channel
    except BaseException:
        for channel in out.values():
            channel.close()
        raise
    return out
