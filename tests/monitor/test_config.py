"""Channels from the monitor config: each mistake is one line naming the channel and the key,
and no error, detail or repr ever quotes a secret."""

from __future__ import annotations

from typing import Any

import pytest

from hullcheck.errors import FormatError
from hullcheck.monitor.channels import (
    ChannelConfigError,
    EmailChannel,
    SlackChannel,
    WebhookChannel,
    channel_from_config,
    channels_from_config,
)

ENV = {"HOOK_SECRET": "hook-secret-value", "SLACK_URL":
       "https://hooks.slack.example/services/T1/B2/sl4ckT0ken", "SMTP_PASSWORD": "smtp-pw-value"}
SECRETS = ("hook-secret-value", "sl4ckT0ken", "smtp-pw-value", "inline-t0ken")

GOOD: list[dict[str, Any]] = [
    {"name": "ops", "type": "webhook", "url": "https://hooks.example.org/hullcheck",
     "secret-env": "HOOK_SECRET"},
    {"name": "team", "type": "slack", "url-env": "SLACK_URL", "timeout": 5},
    {"name": "mail", "type": "email", "smtp": "smtp.example.org:2525",
     "from": "Hullcheck <alerts@example.org>", "to": ["ops@example.org"], "starttls": True,
     "username": "alerts", "password-env": "SMTP_PASSWORD"},
    {"name": "mail-plain", "type": "email", "smtp": "[::1]", "from": "alerts@example.org",
     "to": "ops@example.org", "starttls": False},
]


def test_a_config_gives_one_channel_per_entry() -> None:
    channels = channels_from_config(GOOD, environ=ENV)
    assert list(channels) == ["ops", "team", "mail", "mail-plain"]
    assert isinstance(channels["ops"], WebhookChannel) and not channels["ops"].digest
    assert isinstance(channels["team"], SlackChannel) and channels["team"].digest
    assert channels["team"].timeout == 5.0
    mail = channels["mail"]
    assert isinstance(mail, EmailChannel)
    assert (mail.host, mail.port, mail.username, mail.starttls) == \
        ("smtp.example.org", 2525, "alerts", True)
    assert mail.sender == "Hullcheck <alerts@example.org>"
    plain = channels["mail-plain"]
    assert isinstance(plain, EmailChannel)
    assert (plain.host, plain.port, plain.recipients) == ("::1", 587, ("ops@example.org",))
    assert channels["ops"].target() == "https://hooks.example.org/…"
    assert channels["team"].target() == "https://hooks.slack.example/…"
    assert plain.target() == "smtp://[::1]:587"
    for channel in channels.values():
        assert not any(s in repr(channel) for s in SECRETS), repr(channel)
        channel.close()


def bad(**changes: Any) -> dict[str, Any]:
    doc = dict(GOOD[0])
    for name, value in changes.items():
        key = name.replace("_", "-")
        if value is None:
            doc.pop(key, None)
        else:
            doc[key] = value
    return doc


@pytest.mark.parametrize(("doc", "message"), [
    ("ops", r"channels\[0\]: a channel is a mapping"),
    (bad(name=None), r"channels\[0\]: 'name' must be"),
    (bad(name="no spaces"), r"'name' must be"),
    (bad(type="pager"), r"channels\[0\] \(channel ops\): 'type' must be one of webhook, slack"),
    (bad(secret_env=None), r"\(channel ops\): 'secret-env' is required"),
    (bad(secret_env="NOT_SET_HERE"), r"secret-env: the environment variable NOT_SET_HERE is "
                                     r"not set"),
    (bad(secret_env="lower-case!"), r"'secret-env' must name an environment variable"),
    (bad(url_env="SLACK_URL"), r"give exactly one of 'url' and 'url-env'"),
    (bad(url=None), r"give exactly one of 'url' and 'url-env'"),
    (bad(url="ftp://files.example.org/inline-t0ken"), r"url must be an http:// or https:// URL"),
    (bad(url="https://user:inline-t0ken@hooks.example.org/"), r"must not carry a user name"),
    (bad(url="https://hooks.example.org/a\nb"), r"'url' must be one line"),
    (bad(timeout=0), r"'timeout' must be a number of seconds in \(0, 300\]"),
    (bad(timeout="5s"), r"'timeout' must be a number"),
    (bad(secret="inline-t0ken"), r"unknown key 'secret' for a webhook channel \(known: ca-file"),
    (bad(ca_file="/nonexistent/ca.pem"), r"cannot use ca-file /nonexistent/ca.pem"),
    ({**GOOD[1], "url-env": "NOPE"}, r"\(channel team\): url-env: the environment variable NOPE"),
    ({**GOOD[2], "smtp": "smtp.example.org:port"}, r"'smtp' must be HOST or HOST:PORT"),
    ({**GOOD[2], "smtp": None}, r"'smtp' is required"),
    ({**GOOD[2], "to": []}, r"'to' must be an address or a non-empty list"),
    ({**GOOD[2], "to": ["ops@example.org\nBcc: all@example.org"]}, r"'to' must be one email"),
    ({**GOOD[2], "to": ["not-an-address"]}, r"'to': 'not-an-address' is not an email address"),
    ({**GOOD[2], "from": 7}, r"'from' must be one email address"),
    ({**GOOD[2], "starttls": "yes"}, r"'starttls' must be true or false"),
    ({**GOOD[2], "password-env": None}, r"'username' and 'password-env' go together"),
    ({**GOOD[2], "starttls": False}, r"a login needs 'starttls: true'"),
    ({**GOOD[2], "password-env": "UNSET_PW"}, r"password-env: the environment variable UNSET_PW"),
])
def test_each_mistake_is_one_line_without_secrets(doc: Any, message: str) -> None:
    with pytest.raises(ChannelConfigError, match=message) as caught:
        channels_from_config([doc], environ=ENV)
    text = str(caught.value)
    assert "\n" not in text and not any(s in text for s in SECRETS), text
    assert isinstance(caught.value, FormatError) and "docs/monitor-channels.md" in \
        caught.value.hint


def test_names_are_unique_and_the_list_is_a_list() -> None:
    with pytest.raises(ChannelConfigError, match=r"channels\[1\]: a channel named 'ops' is "
                                                 "already defined"):
        channels_from_config([GOOD[0], GOOD[0]], environ=ENV)
    with pytest.raises(ChannelConfigError, match="channels: expected a list of channels"):
        channels_from_config({"ops": GOOD[0]}, environ=ENV)
    with pytest.raises(ChannelConfigError, match=r"^monitor.yaml:12: 'name' must be"):
        channel_from_config({"type": "slack"}, where="monitor.yaml:12", environ=ENV)


def test_the_process_environment_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HULLCHECK_TEST_HOOK_SECRET", "from-the-environment")
    channel = channel_from_config({**GOOD[0], "secret-env": "HULLCHECK_TEST_HOOK_SECRET"})
    assert isinstance(channel, WebhookChannel)
    monkeypatch.delenv("HULLCHECK_TEST_HOOK_SECRET")
    with pytest.raises(ChannelConfigError, match="HULLCHECK_TEST_HOOK_SECRET is not set"):
        channel_from_config({**GOOD[0], "secret-env": "HULLCHECK_TEST_HOOK_SECRET"})
