"""Notifications: a JSON drift summary posted after each stored run.

``--notify URL`` (repeatable) posts the generic payload (docs/history.md) to URL. The
chat tools ops teams live in get their own message format, chosen by a prefix or by the
webhook's host:

* ``dingtalk+https://oapi.dingtalk.com/robot/send?access_token=...`` (DingTalk 钉钉)
* ``wecom+https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...`` (WeCom 企业微信)
* ``feishu+https://open.feishu.cn/open-apis/bot/v2/hook/...`` (Feishu 飞书 / Lark)
* ``slack+https://hooks.slack.com/services/...`` (Slack)
* ``json+URL`` or any other URL: the generic payload.

A notification that fails is reported (the host, never the URL, which holds a token) and
never fails the audit or loses the run.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from cisaudit import __version__

PRESETS = ("json", "dingtalk", "wecom", "feishu", "slack")
_HOSTS = {
    "oapi.dingtalk.com": "dingtalk",
    "qyapi.weixin.qq.com": "wecom",
    "open.feishu.cn": "feishu",
    "open.larksuite.com": "feishu",
    "hooks.slack.com": "slack",
}
LISTED = 20  # new failures and fixes named in a payload


@dataclass
class Sent:
    target: str  # scheme://host, never the full URL
    preset: str
    ok: bool
    detail: str


def parse(url: str) -> tuple[str, str]:
    """(preset, URL to post to)."""
    head, sep, rest = url.partition("+")
    if sep and head in PRESETS and rest.startswith(("http://", "https://")):
        return head, rest
    if not url.startswith(("http://", "https://")):
        raise ValueError(
            f"not a webhook URL: {where(url)} (http:// or https://, optionally "
            f"with a preset prefix: {', '.join(p + '+' for p in PRESETS)})"
        )
    host = urllib.parse.urlsplit(url).hostname or ""
    return _HOSTS.get(host, "json"), url


def where(url: str) -> str:
    parts = urllib.parse.urlsplit(url.split("+", 1)[-1])
    return f"{parts.scheme}://{parts.hostname or '?'}"


def payload(
    run: Any, drift: dict[str, Any] | None, *, stored: bool, store_note: str = ""
) -> dict[str, Any]:
    """The generic JSON payload (documented in docs/history.md)."""
    fleet = run.summary.get("fleet", {})
    counts = (drift or {}).get("counts")
    summary = {
        "id": run.run_id,
        "scope": run.options.get("scope", ""),
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "targets": len(run.targets),
        "unreachable": list(fleet.get("unreachable") or []),
        "exit_code": run.summary.get("exit_code"),
        "interrupted": run.interrupted,
        "score": fleet.get("score"),
        "score_without_waivers": fleet.get("score_without_waivers"),
        "counts": fleet.get("counts"),
        "stored": stored,
    }
    body: dict[str, Any] = {
        "event": "cisaudit.run",
        "tool": {"name": "cisaudit", "version": __version__},
        "run": summary,
        "baseline": None,
        "drift": None,
    }
    if store_note:
        body["run"]["store_note"] = store_note
    if drift is not None:
        body["baseline"] = {"id": drift["a"]["run"], "started_at": drift["a"]["started_at"]}
        body["drift"] = {
            "counts": counts,
            "new_failures": drift["new_failures"][:LISTED],
            "fixed": drift["fixed"][:LISTED],
            "changed": drift["changed"][:LISTED],
            "targets_added": drift["targets_added"][:LISTED],
            "targets_removed": drift["targets_removed"][:LISTED],
            "notes": drift["notes"],
        }
    body["text"] = _text(body)
    return body


def _text(body: dict[str, Any]) -> dict[str, str]:
    run, drift = body["run"], body["drift"]
    score = "—" if run["score"] is None else f"{run['score']:.1f}"
    zh = [
        f"cisaudit 审计 {run['scope'] or run['id'][:8]}：{run['targets']} 个对象，得分 {score}，退出码 {run['exit_code']}"
    ]
    en = [
        f"cisaudit audit {run['scope'] or run['id'][:8]}: {run['targets']} targets, score {score}, exit {run['exit_code']}"
    ]
    if run.get("interrupted"):
        zh.append("（已中断，结果不完整）")
        en.append("(interrupted: partial results)")
    if not run["stored"]:
        zh.append("本次运行未存入历史库")
        en.append("this run was NOT stored")
    if drift is not None:
        c = drift["counts"]
        zh.append(
            f"与 {body['baseline']['started_at']} 相比：新增不通过 {c['new_failures']}，已修复 {c['fixed']}，其他变化 {c['changed']}"
        )
        en.append(
            f"since {body['baseline']['started_at']}: {c['new_failures']} new failure(s), {c['fixed']} fixed, {c['changed']} other change(s)"
        )
        for item in drift["new_failures"][:5]:
            line = f"{item['target']} {item['control']} {item['object']}".strip()
            zh.append(f"- 新增：{line}")
            en.append(f"- new: {line}")
    else:
        zh.append("没有可比较的上一次运行")
        en.append("no previous run to compare with")
    return {"zh": "\n".join(zh), "en": "\n".join(en)}


def render(preset: str, body: dict[str, Any]) -> dict[str, Any]:
    """The message a preset's webhook expects."""
    text = body["text"]["zh"] + "\n\n" + body["text"]["en"]
    title = f"cisaudit: {body['run']['scope'] or body['run']['id'][:8]}"
    if preset == "dingtalk":
        return {"msgtype": "markdown", "markdown": {"title": title, "text": _markdown(title, text)}}
    if preset == "wecom":
        return {"msgtype": "markdown", "markdown": {"content": _markdown(title, text)}}
    if preset == "feishu":
        return {"msg_type": "text", "content": {"text": f"{title}\n{text}"}}
    if preset == "slack":
        return {"text": f"*{title}*\n{text}"}
    return body


def _markdown(title: str, text: str) -> str:
    return f"### {title}\n\n" + "\n\n".join(text.splitlines())


def send(url: str, body: dict[str, Any], *, timeout: float = 10.0) -> Sent:
    """Post ``body`` (rendered for the URL's preset); never raises."""
    try:
        preset, target = parse(url)
    except ValueError as exc:
        return Sent(where(url), "?", False, str(exc))
    data = json.dumps(render(preset, body), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(
        target,
        data=data,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"cisaudit/{__version__}",
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            reply = response.read(4096).decode("utf-8", "replace")
            status = response.status
    except urllib.error.HTTPError as exc:
        return Sent(where(url), preset, False, f"HTTP {exc.code}")
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return Sent(where(url), preset, False, f"{type(exc).__name__}: {reason}"[:200])
    # The chat webhooks answer 200 with an error code in the body.
    problem = _chat_error(preset, reply)
    if problem:
        return Sent(where(url), preset, False, problem)
    return Sent(where(url), preset, 200 <= status < 300, f"HTTP {status}")


def _chat_error(preset: str, reply: str) -> str:
    if preset not in ("dingtalk", "wecom", "feishu"):
        return ""
    try:
        doc = json.loads(reply)
    except ValueError:
        return ""
    code = doc.get("errcode", doc.get("code", doc.get("StatusCode", 0)))
    if code not in (0, None):
        message = doc.get("errmsg") or doc.get("msg") or doc.get("StatusMessage") or ""
        return f"{preset} refused the message: {code} {message}"[:200]
    return ""
