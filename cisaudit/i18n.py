"""Messages of the command line in English and Chinese (``--lang`` / ``CISAUDIT_LANG``)."""

from __future__ import annotations

import os

# Status names as reports print them; the terminal table shows the short codes in English.
STATUS_LABELS: dict[str, dict[str, str]] = {
    "PASS": {"en": "Pass", "zh": "通过"},
    "FAIL": {"en": "Fail", "zh": "不通过"},
    "MANUAL": {"en": "Manual", "zh": "需人工检查"},
    "NOT_APPLICABLE": {"en": "Not applicable", "zh": "不适用"},
    "ERROR": {"en": "Could not tell", "zh": "无法判定"},
    "WAIVED": {"en": "Waived", "zh": "已豁免"},
}

MESSAGES: dict[str, dict[str, str]] = {
    "target": {"en": "Target", "zh": "目标"},
    "score": {"en": "Score", "zh": "得分"},
    "status": {"en": "Status", "zh": "状态"},
    "fleet": {"en": "Fleet", "zh": "整体"},
    "unreachable": {"en": "not audited", "zh": "未能审计"},
    "auditing": {"en": "Auditing", "zh": "正在审计"},
    "rendering_details": {"en": "Detail reports", "zh": "正在生成明细报告"},
    "wrote": {"en": "Wrote", "zh": "已写入"},
    "interrupted": {
        "en": "Interrupted: results of finished targets were kept.",
        "zh": "已中断：已完成目标的结果已保留。",
    },
    "exit": {"en": "exit code", "zh": "退出码"},
    "score_without_waivers": {"en": "w/o waivers", "zh": "不计豁免"},
    "v_compliant": {"en": "Met", "zh": "符合"},
    "v_partial": {"en": "Partly", "zh": "部分符合"},
    "v_non_compliant": {"en": "Not met", "zh": "不符合"},
    "v_not_covered": {"en": "Not covered", "zh": "未覆盖"},
    "frameworks_title": {
        "en": "Framework items (fleet verdicts)",
        "zh": "合规框架测评项（整体结论）",
    },
    "framework": {"en": "Framework", "zh": "框架"},
    "other": {"en": "Other", "zh": "其他"},  # not applicable, not assessed, review, error
    "waivers_applied": {
        "en": "Waivers: {n} applied, covering {results} result(s).",
        "zh": "豁免：{n} 项生效，覆盖 {results} 个结果。",
    },
    "waivers_expired": {
        "en": "Expired waivers (applied nothing): {ids}",
        "zh": "已过期的豁免（未生效）：{ids}",
    },
    "waivers_unused": {
        "en": "Unused waivers (matched nothing in this run): {ids}",
        "zh": "未使用的豁免（本次未匹配任何结果）：{ids}",
    },
    "waivers_expiring": {
        "en": "Waivers expiring within 30 days: {ids}",
        "zh": "30 天内到期的豁免：{ids}",
    },
    "input_error": {"en": "Input error", "zh": "输入错误"},
    "evidence_modified": {
        "en": "WARNING: evaluated MODIFIED evidence: {n} section(s) no longer match their "
        "SHA-256 ({sections}). These results do not vouch for what was collected.",
        "zh": "警告：所评估的证据已被修改：{n} 个部分与其 SHA-256 不符（{sections}）。"
        "这些结果不能证明采集时的真实情况。",
    },
}


def lang() -> str:
    value = os.environ.get("CISAUDIT_LANG", "en").lower()
    return "zh" if value.startswith("zh") else "en"


def t(key: str, language: str | None = None) -> str:
    language = language or lang()
    if key in STATUS_LABELS:
        if language == "en":  # short codes keep the terminal table narrow
            return "N/A" if key == "NOT_APPLICABLE" else key
        return STATUS_LABELS[key]["zh"]
    entry = MESSAGES.get(key, {})
    return entry.get(language or lang(), entry.get("en", key))
