"""Every word a report prints, in English and Chinese.

Templates never hold prose: they look labels up by key, so that both languages stay
complete (``tests/test_report_i18n.py`` fails when a key lacks a language) and a
translation fix is one line here.
"""

from __future__ import annotations

from collections.abc import Mapping

LANGS = ("en", "zh")

# ``--lang both`` prints Chinese first, English beneath it.
LANG_CHOICES: dict[str, tuple[str, ...]] = {"en": ("en",), "zh": ("zh",), "both": ("zh", "en")}

# Shared with the command line, so a status reads the same on screen and on paper.
from cisaudit.i18n import STATUS_LABELS  # noqa: E402

LABELS: dict[str, dict[str, str]] = {
    # document
    "report_title": {"en": "Security Configuration Audit Report", "zh": "安全配置审计报告"},
    "report_subtitle": {"en": "CIS Benchmark assessment", "zh": "CIS 基准符合性评估"},
    "contents": {"en": "Contents", "zh": "目录"},
    # footer "Page 3 of 40" / "第 3 页，共 40 页": text before, between and after the numbers
    "page_before": {"en": "Page ", "zh": "第 "},
    "page_between": {"en": " of ", "zh": " 页，共 "},
    "page_after": {"en": "", "zh": " 页"},
    "confidential": {"en": "Confidential", "zh": "机密"},
    # cover
    "organisation": {"en": "Organisation", "zh": "审计机构"},
    "client": {"en": "Client", "zh": "委托单位"},
    "assessor": {"en": "Assessor", "zh": "审计人员"},
    "scope": {"en": "Scope", "zh": "审计范围"},
    "hosts": {"en": "Targets", "zh": "审计对象"},
    "groups": {"en": "Groups", "zh": "分组"},
    "run_started": {"en": "Audit started", "zh": "审计开始时间"},
    "run_finished": {"en": "Audit finished", "zh": "审计结束时间"},
    "generated_at": {"en": "Report generated", "zh": "报告生成时间"},
    "benchmark": {"en": "Benchmark", "zh": "基准"},
    "benchmark_version": {"en": "Version", "zh": "版本"},
    "tool_version": {"en": "Tool version", "zh": "工具版本"},
    "run_id": {"en": "Run ID", "zh": "运行编号"},
    "interrupted": {
        "en": "This audit was interrupted: results are incomplete.",
        "zh": "本次审计被中断：结果不完整。",
    },
    "evidence_modified": {
        "en": "MODIFIED EVIDENCE: these results were evaluated from evidence that was changed "
        "after it was collected. The sections below no longer match their SHA-256; verdicts "
        "that rest on them do not show what the audited hosts returned.",
        "zh": "证据已被修改：本结果所依据的证据在采集后被更改。下列部分与其 SHA-256 不再一致，"
        "依赖这些部分的结论不能代表被审计主机的真实返回。",
    },
    # executive summary
    "executive_summary": {"en": "Executive summary", "zh": "执行摘要"},
    "score": {"en": "Score", "zh": "得分"},
    "pass_rate": {"en": "Pass rate", "zh": "通过率"},
    "automated_coverage": {"en": "Automated coverage", "zh": "自动化覆盖率"},
    "targets_audited": {"en": "Targets audited", "zh": "已审计对象"},
    "unreachable": {"en": "Targets that could not be audited", "zh": "无法审计的对象"},
    "unreachable_none": {
        "en": "Every target was reached and audited.",
        "zh": "所有对象均已连接并完成审计。",
    },
    "score_note": {
        "en": "Score and rates come from the audit's scorer; counts are per target and control.",
        "zh": "得分与比率由审计评分模块给出；计数按对象与控制项统计。",
    },
    "status_counts": {"en": "Verdicts", "zh": "判定结果统计"},
    "chart_sections": {"en": "Results by section", "zh": "各章节结果"},
    "chart_hosts": {"en": "Targets with the most failures", "zh": "不通过项最多的对象"},
    "chart_levels": {"en": "Level 1 and Level 2", "zh": "一级与二级"},
    "level": {"en": "Level", "zh": "级别"},
    "top_risks": {"en": "Top risks", "zh": "主要风险"},
    "top_risks_none": {"en": "No control failed.", "zh": "没有不通过的控制项。"},
    "failing_controls": {"en": "All failed controls", "zh": "全部不通过的控制项"},
    "affected_targets": {"en": "Affected targets", "zh": "受影响对象"},
    "more": {"en": "more", "zh": "更多"},
    # findings
    "findings": {"en": "Findings by target", "zh": "各对象检查结果"},
    # fleet layout
    "fleet_overview": {"en": "Fleet overview", "zh": "整体概况"},
    "fleet_intro": {
        "en": "This fleet report lists each target on one row and groups the findings by "
        "control across targets. Every result is in the attached results file.",
        "zh": "本整体报告中每个审计对象占一行，检查发现按控制项跨对象汇总。全部结果见附件中的结果文件。",
    },
    "fleet_split_note": {
        "en": "Each target's findings, remediation and evidence are in its own report, "
        "named in the last column.",
        "zh": "各对象的检查发现、整改建议和证据见其单独报告，文件名列于最后一栏。",
    },
    "worst_targets": {"en": "Lowest-scoring targets", "zh": "得分最低的对象"},
    "findings_by_control": {"en": "Findings by control", "zh": "按控制项汇总的检查发现"},
    "fails_on": {"en": "Targets failing:", "zh": "不通过对象数："},
    "errors_by_control": {
        "en": "Controls that could not be judged",
        "zh": "无法判定的控制项",
    },
    "targets_by_group": {"en": "Targets by group", "zh": "按分组列出的对象"},
    "targets_by_group_note": {
        "en": "A target in several groups is listed under its first; the group scores in "
        "the summary count it in each.",
        "zh": "属于多个分组的对象列在其第一个分组下；摘要中的分组得分在每个所属分组中计入该对象。",
    },
    "no_group": {"en": "No group", "zh": "未分组"},
    "detail_intro": {
        "en": "Detail report: the findings, remediation and evidence of the targets named "
        "above, taken from one audit run. The fleet report of the same run summarises all "
        "targets.",
        "zh": "明细报告：上述对象的检查发现、整改建议和证据，取自同一次审计。同一次审计的整体报告汇总全部对象。",
    },
    "fleet_report": {"en": "Fleet report", "zh": "整体报告"},
    "detail_why_note": {
        "en": "Why each control matters and how to fix it in general are printed once per "
        "control in the fleet report (findings by control); here the shaded box under each "
        "failure is the fix for this target.",
        "zh": "各控制项的重要性及通用整改方法在整体报告（按控制项汇总的检查发现）中按控制项列出一次；此处每项不通过下方的灰底框即针对该对象的整改命令。",
    },
    "source_evidence": {"en": "Taken from evidence", "zh": "证据来源"},
    "report_file": {"en": "Report file", "zh": "报告文件"},
    "evidence_attached_only": {
        "en": "The raw outputs are not printed in this report: the evidence file is "
        "attached instead (see the table above), each section with its SHA-256.",
        "zh": "本报告不逐页打印原始输出：证据文件已作为附件嵌入（见上表），其中每一部分均带 SHA-256。",
    },
    "evidence_not_attached": {
        "en": "The evidence file is larger than this report embeds. It is named here with "
        "its SHA-256; keep it with the report (it has its own detached signature when the "
        "report is signed).",
        "zh": "证据文件超出本报告可嵌入的大小，此处列出其文件名和 SHA-256；请与报告一并保存"
        "（报告签名时证据文件另有独立签名）。",
    },
    "findings_intro": {
        "en": "Failures and undecided controls are shown in full; other verdicts as lists.",
        "zh": "不通过与无法判定的控制项完整列出；其他结果以列表形式汇总。",
    },
    "target": {"en": "Target", "zh": "对象"},
    "address": {"en": "Address", "zh": "地址"},
    "kind": {"en": "Kind", "zh": "类型"},
    "control": {"en": "Control", "zh": "控制项"},
    "section": {"en": "Section", "zh": "章节"},
    "title": {"en": "Title", "zh": "标题"},
    "status": {"en": "Status", "zh": "状态"},
    "observed": {"en": "Observed", "zh": "实际情况"},
    "expected": {"en": "Expected", "zh": "期望值"},
    "reason": {"en": "Reason", "zh": "原因"},
    "why_it_matters": {"en": "Why it matters", "zh": "风险说明"},
    "remediation": {"en": "Remediation", "zh": "整改建议"},
    "remediation_snippet": {"en": "Fix for this target", "zh": "针对本对象的整改命令"},
    "offenders": {"en": "Offending objects", "zh": "不合规对象"},
    "evidence": {"en": "Evidence", "zh": "证据"},
    "audit_steps": {"en": "Audit steps", "zh": "检查步骤"},
    "waiver": {"en": "Waiver", "zh": "豁免"},
    "waived_by": {"en": "by", "zh": "批准人"},
    "waived_until": {"en": "until", "zh": "有效期至"},
    "not_audited": {
        "en": "This target could not be audited. Its controls are not passed: they are unknown.",
        "zh": "该对象无法审计。其控制项并非通过，而是结果未知。",
    },
    "error": {"en": "Error", "zh": "错误"},
    "automated": {"en": "Automated", "zh": "自动"},
    "manual": {"en": "Manual", "zh": "人工"},
    "manual_checks": {"en": "Checks for a person", "zh": "需人工完成的检查"},
    "manual_intro": {
        "en": "These controls cannot be decided by a machine; the audit steps say what to do.",
        "zh": "以下控制项无法自动判定，请按检查步骤人工完成。",
    },
    "none": {"en": "none", "zh": "无"},
    # frameworks
    "frameworks": {"en": "Compliance frameworks", "zh": "合规框架测评"},
    "frameworks_intro": {
        "en": "Each framework item (for 等保 2.0, each GB/T 28448 test unit) with its verdict, "
        "the result record written from the control results, and the controls behind it.",
        "zh": "逐项列出各框架的测评项（等保 2.0 按 GB/T 28448 测评单元）：符合情况、依据控制项结果"
        "生成的结果记录，以及对应的控制项。",
    },
    "frameworks_rule": {
        "en": "How verdicts are reached: any failing control makes an item non-compliant, or "
        "partly compliant when others pass; an item that also needs interviews or documents "
        "is at best partly compliant on technical evidence; a waived control is an accepted "
        "risk, never compliance; supporting controls never decide. See docs/frameworks.md.",
        "zh": "判定规则：任一控制项不通过即为不符合（其他控制项通过时为部分符合）；还需访谈或文档核查的"
        "测评项，仅凭技术证据最多为部分符合；已豁免的控制项是已接受的风险，不计为符合；旁证控制项"
        "不参与判定。详见 docs/frameworks.md。",
    },
    "frameworks_none": {
        "en": "No framework was selected, or none maps onto the benchmarks of this audit.",
        "zh": "未选择合规框架，或没有框架映射到本次审计的基准。",
    },
    "judged_against": {"en": "Judged against", "zh": "判定参数"},
    "item_score": {"en": "Item score", "zh": "测评项得分"},
    "with_waivers": {"en": "with waivers", "zh": "计入豁免"},
    "without_waivers": {"en": "without waivers", "zh": "不计豁免"},
    "test_unit": {"en": "Test unit / item", "zh": "测评单元编号"},
    "requirement": {"en": "Requirement", "zh": "测评指标"},
    "verdict": {"en": "Verdict", "zh": "符合情况"},
    "result_record": {"en": "Result record", "zh": "结果记录"},
    "coverage": {"en": "Coverage", "zh": "覆盖程度"},
    "coverage_full": {"en": "decided by the checks", "zh": "由技术核查判定"},
    "coverage_partial": {"en": "also needs interviews or documents", "zh": "还需访谈或文档核查"},
    "coverage_none": {"en": "not covered", "zh": "未覆盖"},
    "supporting": {"en": "Supporting", "zh": "旁证"},
    "not_covered_items": {
        "en": "Items not covered by automated checks",
        "zh": "自动化核查未覆盖的测评项",
    },
    "not_covered_intro": {
        "en": "These items are never judged here: assess them by interview, document review or "
        "other tools.",
        "zh": "以下测评项不在此判定，需通过访谈、文档审查或其他工具测评。",
    },
    "score_without_waivers": {"en": "Score without waivers", "zh": "不计豁免得分"},
    "group_scores": {"en": "Scores by group", "zh": "各分组得分"},
    "group": {"en": "Group", "zh": "分组"},
    # changes since the previous run
    "changes_since": {"en": "Changes since", "zh": "相比上次审计的变化："},
    "changes_intro": {
        "en": "Compared with the previous stored run of the same scope. Objects are known by "
        "name (a container re-created under the same name is the same object).",
        "zh": "与同一范围上一次存储的审计运行相比。对象按名称识别（以同名重新创建的容器视为同一对象）。",
    },
    "new_failures": {"en": "New failures", "zh": "新增不通过"},
    "fixed": {"en": "Fixed", "zh": "已修复"},
    "still_failing": {"en": "Still failing", "zh": "仍不通过"},
    "other_changes": {"en": "Other changes", "zh": "其他变化"},
    "targets_added": {"en": "Targets added", "zh": "新增对象"},
    "targets_removed": {"en": "Targets removed", "zh": "移除对象"},
    "controls_added": {"en": "Controls added", "zh": "新增控制项"},
    "controls_removed": {"en": "Controls removed", "zh": "移除控制项"},
    "score_trend": {"en": "Score over time", "zh": "得分趋势"},
    "trend_legend": {
        "en": "Solid: score; dashed: score without waivers.",
        "zh": "实线：得分；虚线：不计豁免得分。",
    },
    "object": {"en": "Object", "zh": "对象"},
    # waiver register
    "waiver_register": {"en": "Waiver register", "zh": "风险豁免登记"},
    "waiver_register_intro": {
        "en": "Every waiver of the file applied to this run: who accepted which risk, why, "
        "until when, and what it covered here. Scores are given with and without waivers.",
        "zh": "本次运行所用豁免文件中的每一项豁免：谁接受了哪项风险、原因、有效期，以及本次覆盖的结果。"
        "得分分别给出计入豁免与不计豁免两种。",
    },
    "waiver_id": {"en": "Waiver", "zh": "豁免编号"},
    "waiver_scope": {"en": "Scope", "zh": "范围"},
    "waiver_covered": {"en": "Covered in this run", "zh": "本次覆盖"},
    "waiver_covered_nothing": {"en": "nothing", "zh": "无"},
    "waiver_state_active": {"en": "applied", "zh": "已生效"},
    "waiver_state_expired": {"en": "EXPIRED: applied nothing", "zh": "已过期：未生效"},
    "waiver_state_unused": {"en": "unused: matched nothing", "zh": "未使用：无匹配"},
    "expiring_soon": {"en": "expires within 30 days", "zh": "30 天内到期"},
    "waivers_as_of": {"en": "Judged on", "zh": "判定日期"},
    "max_validity": {"en": "Longest validity (days)", "zh": "最长有效期（天）"},
    "objects": {"en": "Objects", "zh": "对象"},
    "approved_by": {"en": "Approved by", "zh": "批准人"},
    "ticket": {"en": "Ticket", "zh": "工单"},
    "expires": {"en": "Expires", "zh": "到期日"},
    "days": {"en": "days", "zh": "天"},
    "clause": {"en": "Clause", "zh": "条款"},
    "controls": {"en": "Controls", "zh": "控制项"},
    "failing_targets": {"en": "Failing targets", "zh": "不通过对象数"},
    # evidence annex
    "evidence_annex": {"en": "Evidence annex", "zh": "证据附录"},
    "evidence_intro": {
        "en": "Raw outputs behind each verdict with their SHA-256. Long outputs are cut here; "
        "the full evidence file is attached to this PDF.",
        "zh": "每项判定所依据的原始输出及其 SHA-256。较长的输出在此截断；完整证据文件已作为附件嵌入本 PDF。",
    },
    "evidence_missing": {
        "en": "No evidence file was given: the annex lists evidence keys only.",
        "zh": "未提供证据文件：附录仅列出证据键。",
    },
    "command": {"en": "Command", "zh": "命令"},
    "exit_code": {"en": "Exit code", "zh": "退出码"},
    "sha256": {"en": "SHA-256", "zh": "SHA-256"},
    "sha256_mismatch": {
        "en": "hash does not match the output",
        "zh": "哈希与输出内容不符",
    },
    "truncated": {
        "en": "output cut; full text in the attached evidence file",
        "zh": "输出已截断；完整内容见附件中的证据文件",
    },
    "referenced_by": {"en": "Used by", "zh": "引用控制项"},
    "attachments": {"en": "Attached files", "zh": "嵌入附件"},
    "file": {"en": "File", "zh": "文件"},
    "size_bytes": {"en": "Bytes", "zh": "字节"},
    # methodology
    "methodology": {"en": "Methodology", "zh": "审计方法"},
    "method_collect": {
        "en": "cisaudit is agentless. For each target it opened one SSH session (or one "
        "Kubernetes API connection) and ran a single batched, read-only probe that "
        "gathers configuration files, process arguments, file permissions and the Docker "
        "engine's JSON. Nothing was installed or changed on the targets.",
        "zh": "cisaudit 无需安装代理。对每个对象仅建立一个 SSH 会话（或一个 Kubernetes API 连接），"
        "执行一次批量只读探测，收集配置文件、进程参数、文件权限以及 Docker 引擎的 JSON 信息。"
        "未在对象上安装或修改任何内容。",
    },
    "method_evaluate": {
        "en": "Each control is data: the facts it needs and a test over them. Verdicts were "
        "computed offline from the recorded facts, so they can be re-computed from the "
        "attached evidence. A target that could not be reached is reported as such, never "
        "as compliant.",
        "zh": "每个控制项都以数据形式定义：所需的事实与对其的判定规则。判定结果由记录下的事实离线计算，"
        "可依据所附证据复核。无法连接的对象如实报告，绝不视为合规。",
    },
    "method_privileges": {"en": "Privileges", "zh": "权限"},
    "method_privileges_text": {
        "en": "Read access to Docker and system configuration; root through sudo where a "
        "target was configured with it. The options of this run are listed below.",
        "zh": "需读取 Docker 与系统配置的权限；如对象配置了 sudo，则以 root 身份读取。本次运行的选项如下。",
    },
    "statuses": {"en": "What each verdict means", "zh": "各判定结果的含义"},
    "status_help_PASS": {"en": "The target meets the control.", "zh": "对象满足该控制项。"},
    "status_help_FAIL": {
        "en": "The target does not meet the control.",
        "zh": "对象不满足该控制项。",
    },
    "status_help_MANUAL": {
        "en": "A person has to check it; the audit steps are given.",
        "zh": "需要人工检查；已给出检查步骤。",
    },
    "status_help_NOT_APPLICABLE": {
        "en": "The control does not apply here, with why.",
        "zh": "该控制项在此不适用，并说明原因。",
    },
    "status_help_ERROR": {
        "en": "The audit could not tell, with why (unreachable, denied...).",
        "zh": "审计无法判定，并说明原因（无法连接、权限不足等）。",
    },
    "status_help_WAIVED": {
        "en": "An accepted risk, with who accepted it and until when.",
        "zh": "已接受的风险，注明批准人及有效期。",
    },
    "options": {"en": "Run options", "zh": "运行选项"},
    "collection": {"en": "Collection per target", "zh": "各对象的采集情况"},
    "remote_calls": {"en": "Remote calls", "zh": "远程调用次数"},
    "how_read": {"en": "How it was read", "zh": "采集与判定方式"},
    "duration": {"en": "Duration (s)", "zh": "耗时（秒）"},
    "started": {"en": "Started", "zh": "开始时间"},
    # signature page
    "signature_page": {"en": "Signature", "zh": "签署"},
    "signed_intro": {
        "en": "This PDF carries a digital signature (PAdES) over the whole document, including "
        "the attached results and evidence. Check it with `cisaudit verify` or any PDF reader.",
        "zh": "本 PDF 带有覆盖整个文档（包括所附结果与证据）的数字签名（PAdES），"
        "可使用 `cisaudit verify` 或任意 PDF 阅读器验证。",
    },
    "unsigned_intro": {
        "en": "This PDF was not digitally signed.",
        "zh": "本 PDF 未进行数字签名。",
    },
    "signer": {"en": "Signer", "zh": "签署人"},
    "certificate_sha256": {"en": "Certificate SHA-256", "zh": "证书 SHA-256"},
    "timestamp_authority": {"en": "Timestamp authority", "zh": "时间戳服务"},
    "handwritten": {"en": "Sign-off", "zh": "书面签字"},
    "name_date": {"en": "Name and date", "zh": "姓名与日期"},
    # HTML
    "search": {"en": "Search", "zh": "搜索"},
    "search_placeholder": {"en": "control, target, text...", "zh": "控制项、对象、文本……"},
    "filter_status": {"en": "Status", "zh": "状态"},
    "filter_target": {"en": "Target", "zh": "对象"},
    "all": {"en": "all", "zh": "全部"},
    "shown": {"en": "shown", "zh": "条已显示"},
    "all_results": {"en": "All results", "zh": "全部结果"},
}


def localise(texts: Mapping[str, str] | None, lang: str) -> str:
    """Pick ``lang`` from a ``{"en": ..., "zh": ...}`` mapping, falling back to English."""
    if not texts:
        return ""
    return texts.get(lang) or texts.get("en") or next(iter(texts.values()), "")


def labels_for(langs: tuple[str, ...]) -> dict[str, dict[str, str]]:
    """All labels (statuses included, as ``status_<STATUS>``) restricted to ``langs``."""
    table = dict(LABELS)
    table.update({f"status_{k}": v for k, v in STATUS_LABELS.items()})
    return {key: {lang: texts[lang] for lang in langs} for key, texts in table.items()}
