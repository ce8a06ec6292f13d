"""Each channel against a real local server: what Slack, the webhook receiver and the SMTP server get."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from alert_fixtures import SMTP_PASSWORD, SMTP_USER, HttpSink, SmtpSink, free_port
from pydantic import SecretStr

from agentledger.alerts.channels import build_channels, select
from agentledger.alerts.channels.email import EmailChannel, SmtpConfig
from agentledger.alerts.channels.slack import SlackChannel
from agentledger.alerts.channels.webhook import WebhookChannel, sign, verify
from agentledger.alerts.message import AlertMessage, Offender
from agentledger.alerts.rules import parse_alerts
from agentledger.core.errors import ConfigError, TerminalError, TransientError
from agentledger.core.settings import Settings

AT = datetime(2026, 11, 23, 12, tzinfo=UTC)
DASH = "http://ledger.example:8501"


def message(event: str = "fired") -> AlertMessage:
    return AlertMessage(
        event=event,
        rule="support-p95",
        kind="threshold",
        severity="critical",
        alert_key="support-p95",
        metric="p95_session_cost_usd",
        unit="usd",
        op=">",
        value=0.62,
        threshold=0.5,
        since=AT - timedelta(hours=24),
        until=AT,
        at=AT,
        description="Support sessions got expensive.",
        scope={"agent": "support-bot"},
        offenders=[
            Offender("session", "sess-42", 1.25, 31, "support-bot", link=f"{DASH}/sessions?session=sess-42"),
            Offender("session", "sess-7", 0.9, 12, "support-bot", link=f"{DASH}/sessions?session=sess-7"),
        ],
        dashboard_url=DASH,
    )


# -- Slack ------------------------------------------------------------------------------------------


def test_slack_gets_block_kit_with_value_threshold_offenders_and_link(http_sink: HttpSink) -> None:
    channel = SlackChannel("slack", SecretStr(http_sink.url))
    channel.send(channel.render_alert(message()), delivery_id="d1", now=AT)

    (request,) = http_sink.requests
    assert request.headers["Content-Type"] == "application/json"
    payload = json.loads(request.body)
    # mrkdwn: ">" is sent as "&gt;" (a line starting with ">" would be a quote, hiding the operator)
    assert payload["text"] == "FIRING: support-p95: p95_session_cost_usd $0.62 &gt; $0.50"
    blocks = payload["blocks"]
    assert [b["type"] for b in blocks] == [
        "header",
        "section",
        "section",
        "section",
        "section",
        "actions",
        "context",
    ]
    header = blocks[0]["text"]
    assert (
        header["type"] == "plain_text"
        and header["text"] == "FIRING: support-p95"
        and len(header["text"]) <= 150
    )
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in blocks[2]["fields"]}
    assert fields["*Value*"] == "$0.62"
    assert fields["*Threshold*"] == "&gt; $0.50"
    assert fields["*Scope*"] == "agent=support-bot"
    assert fields["*Window*"] == "2026-11-22 12:00 → 2026-11-23 12:00 UTC"
    assert all(f["type"] == "mrkdwn" for f in blocks[2]["fields"]) and len(blocks[2]["fields"]) <= 10
    assert blocks[3]["text"]["text"] == "Support sessions got expensive."
    offenders = blocks[4]["text"]["text"]
    assert offenders.startswith("*Top offending sessions*")
    assert f"<{DASH}/sessions?session=sess-42|session sess-42>: $1.25 · 31 calls · support-bot" in offenders
    button = blocks[5]["elements"][0]
    assert (
        button["type"] == "button"
        and button["url"] == f"{DASH}/overview?from=2026-11-22&to=2026-11-23&agent=support-bot"
    )


def test_slack_errors_are_transient_or_terminal_and_never_show_the_url(http_sink: HttpSink) -> None:
    channel = SlackChannel("slack", SecretStr(http_sink.url))
    http_sink.status = 503
    with pytest.raises(TransientError, match="HTTP 503"):
        channel.send({"text": "x"}, delivery_id="d", now=AT)
    http_sink.status = 404
    with pytest.raises(TerminalError, match="HTTP 404"):
        channel.send({"text": "x"}, delivery_id="d", now=AT)
    down = SlackChannel("slack", SecretStr(f"http://127.0.0.1:{free_port()}/services/T0/B0/secret-token"))
    with pytest.raises(TransientError) as err:
        down.send({"text": "x"}, delivery_id="d", now=AT)
    assert "secret-token" not in str(err.value) and "cannot reach" in str(err.value)


def test_an_error_page_is_named_on_one_line_not_dumped(http_sink: HttpSink) -> None:
    """A proxy's HTML error page gives its title in the error, not the page's markup over many lines."""
    channel = SlackChannel("slack", SecretStr(http_sink.url))
    http_sink.status, http_sink.content_type = 501, "text/html;charset=utf-8"
    http_sink.answer = (
        b"<!DOCTYPE HTML>\n<html lang='en'>\n<head>\n<title>Error response</title>\n</head>\n<body>\n"
        b"<h1>Error response</h1>\n<p>Error code: 501</p>\n"
        + b"<p>padding</p>\n" * 200
        + b"</body>\n</html>\n"
    )
    with pytest.raises(TransientError) as err:
        channel.send({"text": "x"}, delivery_id="d", now=AT)
    assert str(err.value) == "Slack channel 'slack': HTTP 501 Error response"
    http_sink.status = 400
    http_sink.content_type, http_sink.answer = "application/json", b'{"error":\n  "' + b"x" * 500 + b'"}'
    with pytest.raises(TerminalError) as err:
        channel.send({"text": "x"}, delivery_id="d", now=AT)
    assert "\n" not in str(err.value) and len(str(err.value)) < 220 and str(err.value).endswith("…")


def test_slack_log_lines_never_show_the_webhook_url(
    http_sink: HttpSink, caplog: pytest.LogCaptureFixture
) -> None:
    # httpx logs every request with its URL at INFO, the level `agentledger scheduler` logs at.
    secret_url = http_sink.url + "/services/T0/B0/secret-token"
    channel = SlackChannel("slack", SecretStr(secret_url))
    # httpx's own level too: importing litellm (other tests do, in this process) sets it to WARNING.
    with caplog.at_level(logging.INFO), caplog.at_level(logging.INFO, logger="httpx"):
        channel.send({"text": "x"}, delivery_id="d", now=AT)
        http_sink.status = 503
        with pytest.raises(TransientError):
            channel.send({"text": "x"}, delivery_id="d", now=AT)
    assert len(http_sink.requests) == 2
    assert any("POST" in r.getMessage() for r in caplog.records)  # the request is still logged...
    assert not any("secret-token" in r.getMessage() for r in caplog.records)  # ...without its path


def _mrkdwn_texts(blocks: list[dict]) -> list[str]:
    texts = []
    for b in blocks:
        if b.get("text", {}).get("type") == "mrkdwn":
            texts.append(b["text"]["text"])
        texts += [f["text"] for f in b.get("fields", [])]
        texts += [e["text"] for e in b.get("elements", []) if e.get("type") == "mrkdwn"]
    return texts


def test_slack_escapes_names_and_operators_and_keeps_within_block_kit_limits(http_sink: HttpSink) -> None:
    # Slack's mrkdwn: "&", "<" and ">" must be sent as entities; "<!channel>" unescaped would notify
    # everyone, and a field line starting with ">" would render as a quote without the operator.
    hostile = "<!channel> R&D " + "x" * 4000
    msg = replace(
        message(),
        group_by="agent",
        group=hostile,
        scope={"agent": hostile},
        description="Cost > budget & <b>rising</b> " + "y" * 4000,
        offenders=[Offender("session", hostile, 1.0, 3, hostile, link=f"{DASH}/sessions?session=s")] * 5,
    )
    channel = SlackChannel("slack", SecretStr(http_sink.url))
    channel.send(channel.render_alert(msg), delivery_id="d", now=AT)
    payload = json.loads(http_sink.requests[0].body)
    blocks = payload["blocks"]
    texts = _mrkdwn_texts(blocks) + [payload["text"]]
    assert not any("<!channel>" in t or "R&D" in t for t in texts)
    assert any("&lt;!channel&gt; R&amp;D" in t for t in texts)
    fields = {f["text"].split("\n")[0]: f["text"].split("\n", 1)[1] for f in blocks[2]["fields"]}
    assert fields["*Threshold*"] == "&gt; $0.50"
    offenders = next(t for t in texts if t.startswith("*Top offending sessions*"))
    assert f"<{DASH}/sessions?session=s|session &lt;!channel&gt;" in offenders  # the link itself is kept
    # Block Kit limits: 50 blocks, header 150, section text 3000, fields 10 of 2000 each.
    assert len(blocks) <= 50
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    for b in blocks:
        if b["type"] == "section":
            assert len(b.get("text", {}).get("text", "")) <= 3000
            assert len(b.get("fields", [])) <= 10 and all(len(f["text"]) <= 2000 for f in b.get("fields", []))


# -- webhook ----------------------------------------------------------------------------------------


def test_webhook_body_is_signed_with_hmac_sha256_and_timestamped(http_sink: HttpSink) -> None:
    channel = WebhookChannel("hook", http_sink.url, SecretStr("whsec-123"))
    channel.send(channel.render_alert(message()), delivery_id="evt_1:hook", now=AT)

    (request,) = http_sink.requests
    signature = request.headers["X-AgentLedger-Signature"]
    assert signature.startswith("sha256=") and verify("whsec-123", request.body, signature)
    assert not verify("other-secret", request.body, signature)
    assert not verify("whsec-123", request.body + b" ", signature)
    body = json.loads(request.body)
    assert request.headers["X-AgentLedger-Timestamp"] == str(int(AT.timestamp())) == str(body["sent_at"])
    assert request.headers["X-AgentLedger-Delivery"] == "evt_1:hook" == body["delivery_id"]
    assert (body["type"], body["event"]) == ("alert", "fired")
    assert body["alert"]["value"] == 0.62 and body["alert"]["offenders"][0]["id"] == "sess-42"


def test_sign_is_hmac_sha256_hex() -> None:
    # RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?"
    expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    assert sign("Jefe", b"what do ya want for nothing?") == f"sha256={expected}"


# -- email ------------------------------------------------------------------------------------------


def smtp_config(sink: SmtpSink, password: str = SMTP_PASSWORD) -> SmtpConfig:
    return SmtpConfig(
        host="127.0.0.1",
        port=sink.port,
        starttls=True,
        username=SMTP_USER,
        password=SecretStr(password),
        sender="agentledger@example.com",
        ca_file=sink.cert,
        timeout=5,
    )


def test_email_goes_out_over_starttls_with_login_as_text_and_html(smtp_sink: SmtpSink) -> None:
    channel = EmailChannel("mail", smtp_config(smtp_sink), ["finops@example.com", "oncall@example.com"])
    channel.send(channel.render_alert(message()), delivery_id="evt_9:mail", now=AT)

    (mail,) = smtp_sink.messages
    assert smtp_sink.handler.envelopes == [
        ("agentledger@example.com", ["finops@example.com", "oncall@example.com"])
    ]
    assert smtp_sink.handler.logins == [SMTP_USER] and smtp_sink.handler.tls == [True]
    assert mail["Subject"] == "[agentledger] FIRING: support-p95: p95_session_cost_usd $0.62 > $0.50"
    assert mail["X-AgentLedger-Delivery"] == "evt_9:mail"
    assert mail.get_content_type() == "multipart/alternative"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert (
        "Value:     $0.62" in text and "Threshold: > $0.50" in text and "Scope:     agent=support-bot" in text
    )
    assert "sess-42: $1.25, 31 calls, support-bot" in text
    assert f"Dashboard: {DASH}/overview?" in text
    assert (
        "<h1" in html
        and "FIRING" in html
        and 'href="http://ledger.example:8501/sessions?session=sess-42"' in html
    )


def test_email_refused_login_is_terminal_and_a_dead_server_transient(smtp_sink: SmtpSink) -> None:
    wrong = EmailChannel("mail", smtp_config(smtp_sink, password="nope"), ["a@example.com"])
    with pytest.raises(TerminalError, match="refused"):
        wrong.send(wrong.render_alert(message()), delivery_id="d", now=AT)
    dead = SmtpConfig(host="127.0.0.1", port=free_port(), timeout=2)
    with pytest.raises(TransientError, match="ConnectionRefusedError"):
        EmailChannel("mail", dead, ["a@example.com"]).send(
            {"subject": "s", "text": "t", "html": "<p>h</p>"}, delivery_id="d", now=AT
        )
    assert smtp_sink.messages == []


class _Greylisting:
    """An SMTP server answering RCPT with a code per address (the first try of a greylisted sender gets
    450), and keeping what it accepted."""

    def __init__(self, codes: dict[str, str]) -> None:
        self.codes = codes
        self.accepted: list[list[str]] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options) -> str:  # noqa: N802
        code = self.codes.get(address, "250 OK")
        if code.startswith("250"):
            envelope.rcpt_tos.append(address)
        return code

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 - the aiosmtpd API
        self.accepted.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"


def test_email_greylisted_or_refused_recipients(caplog: pytest.LogCaptureFixture) -> None:
    from aiosmtpd.controller import Controller

    handler = _Greylisting(
        {
            "grey@example.com": "450 4.2.0 Greylisted, try again later",
            "gone@example.com": "550 5.1.1 No such user",
        }
    )
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        smtp = SmtpConfig(host="127.0.0.1", port=port, starttls=False, timeout=5)
        payload = {"subject": "s", "text": "t", "html": "<p>h</p>"}
        # every recipient deferred with a 4xx: trying again later works (greylisting), so transient
        with pytest.raises(TransientError, match="450"):
            EmailChannel("mail", smtp, ["grey@example.com"]).send(payload, delivery_id="d1", now=AT)
        # every recipient refused with a 5xx: terminal
        with pytest.raises(TerminalError, match="550"):
            EmailChannel("mail", smtp, ["gone@example.com"]).send(payload, delivery_id="d2", now=AT)
        # some accepted: sent to them (a retry would send it to them twice), the others are logged
        with caplog.at_level(logging.WARNING):
            EmailChannel("mail", smtp, ["ok@example.com", "gone@example.com"]).send(
                payload, delivery_id="d3", now=AT
            )
        assert handler.accepted == [["ok@example.com"]]
        assert any("gone@example.com" in r.getMessage() and "550" in r.getMessage() for r in caplog.records)
    finally:
        controller.stop()


# -- building channels from the config and settings -------------------------------------------------


def test_channels_come_from_the_file_and_the_settings() -> None:
    config = parse_alerts(
        {
            "channels": [
                {"type": "email", "name": "finops", "to": ["f@example.com"]},
                {
                    "type": "webhook",
                    "name": "pager",
                    "url": "https://x.example/h",
                    "secret_env": "PAGER_SECRET",
                },
            ]
        }
    )
    settings = Settings(
        smtp_host="smtp.example.com", slack_webhook_url="https://hooks.slack.com/services/T/B/X"
    )
    channels = build_channels(config, settings, env={"PAGER_SECRET": "k"})
    assert {n: c.type for n, c in channels.items()} == {
        "finops": "email",
        "pager": "webhook",
        "slack": "slack",
    }
    assert "X" not in repr(channels["slack"])
    with pytest.raises(ConfigError, match="PAGER_SECRET is not set"):
        build_channels(config, settings, env={})
    with pytest.raises(ConfigError, match=r"routes to channel\(s\) \['email'\] that are not configured"):
        select(channels, ["email"], "rule 'x'")


@pytest.mark.parametrize(
    "url", ["hooks.slack.com/services/T/B/secret-part", "ftp://hooks.slack.com/x", "https:///T/B/x"]
)
def test_a_channel_url_that_is_not_http_is_a_setting_to_fix_never_echoed(url: str) -> None:
    """Not a delivery to retry three times: the channel is refused when it is built, naming the variable."""
    config = parse_alerts({"channels": [{"type": "slack", "name": "ops", "webhook_url_env": "OPS_SLACK"}]})
    with pytest.raises(ConfigError, match="OPS_SLACK is not an http") as info:
        build_channels(config, Settings(_env_file=None), env={"OPS_SLACK": url})
    assert url not in str(info.value)
    with pytest.raises(ConfigError, match="AGENTLEDGER_SLACK_WEBHOOK_URL is not an http"):
        build_channels(parse_alerts({}), Settings(slack_webhook_url=url, _env_file=None))
    lenient = build_channels(config, Settings(_env_file=None), env={"OPS_SLACK": url}, lenient=True)
    assert lenient["ops"].type == "slack"  # a dry run plans with it and says what is wrong
