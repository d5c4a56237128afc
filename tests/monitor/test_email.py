"""The email channel through a real SMTP server (aiosmtpd) on 127.0.0.1: plain, STARTTLS with
a self-signed certificate made here, AUTH; refusals and failures judged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hullcheck.monitor.channels import EmailChannel, Outcome, channel_from_config, message_id
from tests.monitor.events import finding_event
from tests.monitor.receivers import closed_port, mailbox, self_signed, server_tls, silent_port

EVENTS = [finding_event("CVE-2024-0001", "critical", "openssl", "3.0.11-1", fixed=("3.0.13-1",)),
          finding_event("CVE-2024-0002", "critical", "openssl", "3.0.11-1"),
          finding_event("CVE-2024-0003", "critical", "libxml2", "2.9.14", kev=True)]
PASSWORD = "pa55-w0rd-xyz"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return self_signed(tmp_path_factory.mktemp("smtp-tls"))


def mail_channel(port: int, **extra: Any) -> EmailChannel:
    doc = {"name": "mail", "type": "email", "smtp": f"127.0.0.1:{port}",
           "from": "hullcheck <alerts@example.org>", "to": ["ops@example.org", "sec@example.org"],
           **extra}
    channel = channel_from_config(doc, environ={"SMTP_PASSWORD": PASSWORD})
    assert isinstance(channel, EmailChannel)
    return channel


def test_one_message_per_batch_text_and_html(cert: tuple[Path, Path]) -> None:
    with mailbox() as box:  # offers no STARTTLS: sent without, as nothing secret goes along
        channel = mail_channel(box.port)
        result = channel.send(EVENTS, "run-3.mail")
        again = channel.send(EVENTS, "run-3.mail")
    assert result.ok and again.ok and "no TLS" in result.detail
    assert len(box.mails) == 2
    mail = box.mails[0]
    assert mail.mail_from == "alerts@example.org"
    assert mail.rcpt_tos == ("ops@example.org", "sec@example.org")
    msg = mail.message
    assert msg["Subject"] == "[hullcheck] 3 new critical findings in registry.example/app:1.2 " \
                             "(sha256:abcdef012345…)"
    assert msg["From"] == "hullcheck <alerts@example.org>"
    assert msg["To"] == "ops@example.org, sec@example.org"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["X-Hullcheck-Delivery"] == "run-3.mail"
    assert msg["Date"]
    # The same key, the same Message-ID: a retry is recognisably the same message.
    assert msg["Message-ID"] == box.mails[1].message["Message-ID"] == \
        message_id("run-3.mail", "alerts@example.org")
    assert msg["Message-ID"].endswith("@example.org>")
    assert message_id("run-4.mail", "alerts@example.org") != msg["Message-ID"]
    assert msg.get_content_type() == "multipart/alternative"
    plain = msg.get_body(("plain",))
    page = msg.get_body(("html",))
    assert plain is not None and page is not None
    text, html = plain.get_content(), page.get_content()
    assert "CVE-2024-0003 (critical) in libxml2 2.9.14, known exploited (KEV)" in text
    assert "<li>CVE-2024-0001 (critical) in openssl 3.0.11-1, fixed in 3.0.13-1</li>" in html


def test_starttls_and_login(cert: tuple[Path, Path]) -> None:
    with mailbox(tls=server_tls(cert), users={"alerts": PASSWORD}) as box:
        result = mail_channel(box.port, **{"ca-file": str(cert[0]), "username": "alerts",
                                           "password-env": "SMTP_PASSWORD"}).send(EVENTS, "k1")
    assert result.ok and "STARTTLS" in result.detail
    assert [(m.tls, m.login) for m in box.mails] == [(True, "alerts")]


def test_starttls_without_login(cert: tuple[Path, Path]) -> None:
    with mailbox(tls=server_tls(cert)) as box:
        result = mail_channel(box.port, **{"ca-file": str(cert[0])}).send(EVENTS, "k1")
    assert result.ok and [m.tls for m in box.mails] == [True]


def test_a_refused_login_is_permanent_and_the_password_stays_secret(
    cert: tuple[Path, Path]
) -> None:
    with mailbox(tls=server_tls(cert), users={"alerts": "another-password"}) as box:
        channel = mail_channel(box.port, **{"ca-file": str(cert[0]), "username": "alerts",
                                            "password-env": "SMTP_PASSWORD"})
        result = channel.send(EVENTS, "k1")
    assert result.outcome is Outcome.PERMANENT and "SMTP 535" in result.detail
    # smtplib tries each mechanism offered (PLAIN, LOGIN), each with the configured password.
    assert box.logins and set(box.logins) == {("alerts", PASSWORD)} and box.mails == []
    assert PASSWORD not in result.detail and PASSWORD not in repr(channel)


def test_an_untrusted_certificate_is_permanent(cert: tuple[Path, Path]) -> None:
    with mailbox(tls=server_tls(cert)) as box:
        result = mail_channel(box.port).send(EVENTS, "k1")  # no ca-file: the system CAs
    assert result.outcome is Outcome.PERMANENT and "not trusted" in result.detail
    assert box.mails == []


def test_no_password_without_starttls() -> None:
    """The server offers AUTH in clear; the channel refuses to use it."""
    with mailbox(users={"alerts": PASSWORD}) as box:
        result = mail_channel(box.port, username="alerts",
                              **{"password-env": "SMTP_PASSWORD"}).send(EVENTS, "k1")
    assert result.outcome is Outcome.PERMANENT and "not sent in clear" in result.detail
    assert box.logins == [] and box.mails == []


@pytest.mark.parametrize(("where", "reply", "outcome"), [
    ("data", "451 4.3.0 Try again later", Outcome.RETRY),
    ("data", "554 5.7.1 Rejected as spam", Outcome.PERMANENT),
    ("rcpt", "550 5.1.1 No such user", Outcome.PERMANENT),
    ("rcpt", "450 4.2.1 Mailbox busy", Outcome.RETRY),
])
def test_smtp_refusals(where: str, reply: str, outcome: Outcome) -> None:
    with mailbox() as box:
        setattr(box, f"{where}_reply", reply)
        result = mail_channel(box.port).send(EVENTS, "k1")
    assert result.outcome is outcome
    assert reply.split(maxsplit=1)[0] in result.detail and box.mails == []


def test_no_answer_is_retried() -> None:
    refused = mail_channel(closed_port()).send(EVENTS, "k1")
    assert refused.outcome is Outcome.RETRY and "no answer" in refused.detail
    with silent_port() as port:
        mute = mail_channel(port, timeout=0.3).send(EVENTS, "k1")
    assert mute.outcome is Outcome.RETRY and "no answer" in mute.detail
