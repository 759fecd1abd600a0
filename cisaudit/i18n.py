"""Messages of the command line in English and Chinese (``--lang`` / ``CISAUDIT_LANG``)."""

from __future__ import annotations

import os

MESSAGES: dict[str, dict[str, str]] = {
    "target": {"en": "Target", "zh": "目标"},
    "score": {"en": "Score", "zh": "得分"},
    "status": {"en": "Status", "zh": "状态"},
    "fleet": {"en": "Fleet", "zh": "整体"},
    "unreachable": {"en": "not audited", "zh": "未能审计"},
    "auditing": {"en": "Auditing", "zh": "正在审计"},
    "wrote": {"en": "Wrote", "zh": "已写入"},
    "interrupted": {
        "en": "Interrupted: results of finished targets were kept.",
        "zh": "已中断：已完成目标的结果已保留。",
    },
    "exit": {"en": "exit code", "zh": "退出码"},
    "PASS": {"en": "PASS", "zh": "通过"},
    "FAIL": {"en": "FAIL", "zh": "不通过"},
    "MANUAL": {"en": "MANUAL", "zh": "人工"},
    "NOT_APPLICABLE": {"en": "N/A", "zh": "不适用"},
    "ERROR": {"en": "ERROR", "zh": "错误"},
    "WAIVED": {"en": "WAIVED", "zh": "豁免"},
    "input_error": {"en": "Input error", "zh": "输入错误"},
}


def lang() -> str:
    value = os.environ.get("CISAUDIT_LANG", "en").lower()
    return "zh" if value.startswith("zh") else "en"


def t(key: str, language: str | None = None) -> str:
    entry = MESSAGES.get(key, {})
    return entry.get(language or lang(), entry.get("en", key))
