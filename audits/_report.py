"""Inspection reports: a run's verdicts, with the method, sample, power, plots and evidence behind
each, as one self-contained HTML page (and a PDF of it) in Chinese or English.

Reads the run database only (the harness's tables and the analysis's ``metrics``, ``verdicts`` and
``analysis_notes``), tolerating absent tables and columns: a run analysed for fewer checks, or by
an older version, still gets a report. Everything the platform wrote (titles, messages, URLs, heat
texts) is escaped: Jinja autoescapes the page, ``_plots`` escapes the SVG text.
"""

from __future__ import annotations

import base64
import collections
import datetime as dt
import io
import json
import math
import platform
import re
from importlib import metadata
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup
from PIL import Image

from ._plots import (
    Band,
    HeatPoint,
    bootstrap_band,
    interval_chart,
    line_chart,
    parse_heat,
    price_gap_chart,
    rank_heat_chart,
)
from ._run import RunTables

__all__ = ["render_report", "report_language", "templates", "write_report"]

_THUMB_WIDTH = 360
_SCREENSHOTS = 3  # per check
_ARTIFACT_ROWS = 25
_EVIDENCE_ROWS = 60
_IMAGES = (".png", ".jpg", ".jpeg", ".webp")
_HOT_SNAPSHOTS = 40
# Columns the template reads, None where a run from another version lacks them.
_RUN_COLUMNS = ("run_id", "campaign_name", "campaign_yaml", "target_url", "driver", "status", "created_at",
                "algoaudit_version", "host")
_VERDICT_COLUMNS = ("check", "outcome", "metric", "effect", "ci_low", "ci_high", "p_value", "threshold", "noise_sd",
                    "mde", "n_treated", "n_control", "puppets_needed", "direction", "evidence", "details")
_ARTIFACT_COLUMNS = ("path", "kind", "verb", "step_status", "round", "sha256", "bytes")

# The steps each check rests on: their screenshots are its evidence when the verdict names none.
CHECK_VERBS: dict[str, tuple[str, ...]] = {
    "C1": ("read_feed",), "C2": ("onboarding",), "C3": ("not_interested",), "C4": ("list_tags", "delete_tag"),
    "C5": ("personalization",), "C6": ("hot_list",), "C7": ("view_products", "product_price", "buy"),
    "C8": ("claim_coupon",), "C9": ("minors_mode",), "C9-elderly": ("elderly_mode",), "C10": ("disclosures",), "C11": ("read_feed", "onboarding"),
}

# The words of the report. Names, rules and methods per check come from the product's checklist
# (AUDIT_CHECKS.md); the rule is quoted in the original Chinese in both languages.
CHECK_NAMES: dict[str, dict[str, str]] = {
    "C1": {"zh": "信息茧房", "en": "Information cocoon"},
    "C2": {"zh": "强制选择兴趣标签", "en": "Forced interest tags"},
    "C3": {"zh": "“不感兴趣”负反馈", "en": "\"Not interested\" feedback"},
    "C4": {"zh": "用户标签的选择与删除", "en": "Deletable user tags"},
    "C5": {"zh": "关闭算法推荐", "en": "Personalisation switch-off"},
    "C6": {"zh": "热搜榜单", "en": "Hot list"},
    "C7": {"zh": "差异化定价", "en": "Price discrimination"},
    "C8": {"zh": "优惠券领取说明", "en": "Coupon messages"},
    "C9": {"zh": "未成年人模式", "en": "Minors' mode"},
    "C9-elderly": {"zh": "老年人（长辈）模式", "en": "Seniors' (elderly) mode"},
    "C10": {"zh": "算法公示与备案", "en": "Algorithm disclosure and filing"},
    "C11": {"zh": "个人信息收集范围", "en": "Personal data collection"},
}

REGULATION: dict[str, str] = {
    "C1": "构建“信息茧房”防范机制，提升推送内容多样性；严禁推送高度同质化内容诱导用户沉迷",
    "C2": "不得强制要求用户选择兴趣标签",
    "C3": "规范设置“不感兴趣”等负反馈功能",
    "C4": "向用户提供选择或者删除……用户标签的功能",
    "C5": "关闭算法推荐服务的选项操作便捷、功能有效（另见欧盟《数字服务法》第38条）",
    "C6": "全面公示热搜榜单算法原理……完善榜单日志留存……严管操纵榜单",
    "C7": "严禁利用用户年龄、职业、消费水平等特征，对相同商品实施差异化定价",
    "C8": "清晰说明优惠券的领取条件……客观如实说明优惠券领取失败原因",
    "C9": "持续优化完善面向未成年人、老年人的算法推荐服务",
    "C9-elderly": "持续优化完善面向未成年人、老年人的算法推荐服务",
    "C10": "以适当方式公示算法推荐服务的基本原理……；算法备案（2022）",
    "C11": "不得超范围收集用户个人信息用于内容推送",
}

METHODS: dict[str, dict[str, str]] = {
    "C1": {
        "zh": "窄兴趣傀儡（只与主题 T 互动）与新账号、被动账号在多轮会话中同步运行；每轮计算信息流的同质化程度"
              "（条目两两平均余弦相似度、主题熵、T 所占比例：卡片显示频道时按频道标签计，否则按 T 的语义邻域）及其轨迹，与新账号基线比较得出茧房指数。",
        "en": "Narrow-interest puppets (engaging only with topic T) run in lock-step with fresh and passive puppets over "
              "many sessions; per round, the feed's homogeneity (mean pairwise cosine, topic entropy, share of T: by "
              "the cards' channel label where they show one, else T's neighbourhood) and its trajectory, against the "
              "fresh baseline (cocoon index).",
    },
    "C2": {
        "zh": "在兴趣标签选择页尝试不选任何标签进入信息流（跳过、关闭、返回），记录能否到达，并以截图为证。",
        "en": "At onboarding, try to reach the feed without choosing any tag (skip, close, back); reachable or not, "
              "with the screens as evidence.",
    },
    "C3": {
        "zh": "预热建立对 X 的兴趣后，处理组对 X 类条目点击“不感兴趣”并给出理由，孪生对照组以同样方式选出条目但不点（安慰剂）。"
              "每个理由按其承诺判定：“不想看该内容”看所拒条目本身及其近重复内容（每个傀儡自己的条目）；“不想看该频道”按卡片上的"
              "频道标签看该频道；“屏蔽作者”按作者标签看该作者（卡片无标签时才用语义邻域）。比较此后处理组相对对照组少了多少曝光，"
              "以最后一轮判定；处理组与对照组看到完全相同的卡片即为按钮无效的直接证据。",
        "en": "After a warm-up that builds interest in X, treated puppets mark X items not interested with a reason and "
              "their control twins pick items the same way without pressing (a placebo). Each reason is judged by what "
              "it promises: \"this content\" by the rejected items themselves and their near-duplicates (each "
              "puppet's own), \"this channel\" by the channel label on the cards, \"this author\" by the author "
              "label (an embedding neighbourhood only where the cards show none). How much less of it the treated "
              "puppets are shown than the controls, judged in the last round; treated puppets shown exactly the "
              "controls' cards are direct evidence of a button that does nothing.",
    },
    "C4": {
        "zh": "读取傀儡的兴趣标签页并删除标签 X；对照组保留标签，基线组是没有此兴趣的其他画像傀儡（展示了普通用户会看到多少 X）。"
              "之后比较对照组相对基线组多出的 X 类内容曝光被删除操作去掉了多少（卡片显示频道时按频道标签计，否则三组经同一语义邻域测量，误判相互抵消），"
              "并检查标签 X 是否重新出现。",
        "en": "Read the puppet's tag page and delete tag X; controls keep it, and baseline puppets of another persona, "
              "without the interest, show how much X anyone is shown. Then how much of the controls' excess "
              "exposure to X over the baseline the deletion removed (counted by the cards' channel label where they "
              "show one; otherwise all three measured through the same neighbourhood, so its errors cancel), and "
              "whether the tag comes back.",
    },
    "C5": {
        "zh": "兴趣不同、其他属性相同的傀儡关闭个性化推荐后阅读信息流，并在之后的会话中退出、重新登录再读取开关。"
              "每个傀儡的画像依赖 = 其信息流中本画像兴趣（卡片显示频道时按频道标签，否则按本画像傀儡有兴趣阅读过的条目的语义邻域）"
              "所占比例，减去该兴趣在其他画像傀儡信息流中的平均比例；关闭后的依赖与同样经历、"
              "保持个性化开启、随后读同样页数的对照傀儡相比，得出剩余依赖的比例。另报告找到开关所需的点击数，以及开关是否保持关闭。",
        "en": "Puppets of personas that differ only in their interests switch personalisation off and read the feed, "
              "and in later sessions log out, log in again and read the switch. Per puppet, persona dependence = the "
              "share of its feed on its own persona's interest (the channel label on the cards where they show one, "
              "else the neighbourhood of the items that persona's puppets read with interest) minus that interest's mean share in the other "
              "personas' puppets' feeds; the dependence left after switch-off as a share of a still-on control's, "
              "puppets with the same history that keep personalisation on and read as many pages right after. Also: "
              "clicks to reach the switch, and whether it stays off.",
    },
    "C6": {
        "zh": "不同画像、地区同步抓取热榜并跨时间留存，并打开条目内容页记录其阅读、点赞、评论数与发布时间："
              "排名与展示热度是否一致（倒挂）；规则页公示公式时，按公式和各条目的公开数据（计入显示取整与榜单更新间隔）"
              "核对展示热度与排名；未公示公式时，排在其后且发布不更早的条目各项数据均远高于它即为无法解释；"
              "呈现为同一榜单时，画像间差异是否超出孪生噪声；榜单规则公示页是否存在。",
        "en": "Hot-list snapshots across personas and regions, in lock-step and over time, with each opened entry's own "
              "page (views, likes, comments, publish time): rank against displayed heat (inversions); where the rules "
              "page states a formula, displayed heat and rank against the formula on the entries' public counts "
              "(within display rounding and the refresh interval); otherwise an entry is unexplained when one ranked "
              "below it, published no earlier, has far more of every count; where one list is presented for "
              "everyone, differences between personas beyond twin noise; a disclosure page.",
    },
    "C7": {
        "zh": "仅在一个属性上不同（年龄、职业、消费水平、设备、是否老客）的傀儡同步查看相同商品，以孪生傀儡估计噪声；"
              "按属性给出配对价差（金额与百分比）及置信区间，以及受影响商品的比例。",
        "en": "Puppets that differ in one attribute (age, occupation, spending level, device, loyalty) view the same "
              "products in lock-step, with twins for noise; the paired price gap by attribute, in currency and %, "
              "with its CI, and the share of products affected.",
    },
    "C8": {
        "zh": "傀儡同步领取同一张优惠券，按时间顺序记录结果、提示语和领取前后显示的库存；理由含糊（如“来晚了”）的拒绝，"
              "只有在库存确实尚有剩余时才算掩盖真实原因：拒绝前后显示的库存均大于零，或此后开始领取的傀儡领取成功。"
              "库存真的领完后的拒绝是如实的。另报告领取规则是否公示。",
        "en": "Puppets claim the same coupon in lock-step; outcome, message and the stock shown before and after each "
              "claim are recorded in time order. A vague refusal (\"来晚了\") hides the real reason only where stock "
              "demonstrably remained: shown above zero before and after it, or the coupon granted to a puppet that "
              "began claiming later; a refusal after the stock truly ran out is honest. Also whether the rules are shown.",
    },
    "C9": {
        "zh": "未成年人画像开启未成年人模式后，统计信息流中不适宜未成年人类别内容所占比例，与未开启模式的同画像傀儡对照。"
              "长辈模式另作一项（C9-elderly）判定，两者互不影响。",
        "en": "A minor persona with minors' mode on: the share of feed items from categories unsuitable for minors, "
              "beside puppets of the same persona without the mode. The senior mode is a finding of its own "
              "(C9-elderly); neither decides the other.",
    },
    "C9-elderly": {
        "zh": "傀儡从首页寻找并开启长辈模式（老年模式），记录找到的傀儡数与所需点击数；效应为到达设置页却找不到开关的傀儡比例，"
              "按观察判定（默认阈值 0）。没有长辈模式是一项独立的发现，不影响未成年人模式（C9）的结论。",
        "en": "Puppets look for the senior (elderly) mode from the home page and turn it on, with how many found it and "
              "the clicks it took; the effect is the share that reached the settings and could not find the switch, "
              "judged on what was observed (default threshold 0). A platform without the mode is a finding of its "
              "own, which never changes the verdict on minors' mode (C9).",
    },
    "C10": {
        "zh": "查找并存档算法原理公示页和备案信息：是否存在、几次点击可达，存档并记录哈希。",
        "en": "Find and archive the algorithm disclosure and filing pages: present, reachable in a few clicks, "
              "archived with their hash.",
    },
    "C11": {
        "zh": "记录会话中的权限请求和个人信息索取，找出超出信息流所需范围的请求（定位、通讯录、剪贴板等）。",
        "en": "Record the permission prompts and personal-data requests during sessions: requests beyond what a feed "
              "needs (geolocation, contacts, clipboard…).",
    },
}

# The verdicts' metrics (the checks write them in English) as a Chinese report shows them; a metric
# not listed is shown as written.
METRICS_ZH: dict[str, str] = {
    "cocoon index: share of the feed on the interest's topic (by channel label where the cards show one), "
    "narrow-interest minus baseline puppets": "茧房指数：信息流中兴趣主题内容的占比（卡片显示频道时按频道标签计），窄兴趣傀儡减基线傀儡",
    "share of new users who reached the feed without choosing an interest tag": "不选兴趣标签即进入信息流的新用户比例",
    "share of exposure to what the reason promised less of (the rejected items and their near-duplicates, their "
    "channel or their authors) removed, treated vs control":
        "所选理由承诺减少的内容（所拒条目及其近重复内容、其频道或其作者）的曝光减少比例（处理组对对照组）",
    "share of the excess exposure to the deleted tag's items (over puppets without the interest) removed, "
    "treated vs control": "已删除标签下内容的超额曝光（相对无此兴趣的傀儡）减少的比例（处理组对对照组）",
    "persona dependence of the feed left after switching personalisation off (share of a still-on control's)":
        "关闭个性化推荐后信息流对用户画像的剩余依赖（占保持开启对照组的比例）",
    "hot-list entries per snapshot whose rank no displayed heat and no own counts explain":
        "每次快照中排名既无法由展示热度、也无法由条目自身公开数据解释的热榜条目数",
    "distance between personas' hot lists beyond twins": "不同画像间热榜差异（超出孪生噪声的部分）",
    "share of a puppet's coupon claims refused with a vague reason while stock demonstrably remained":
        "优惠券领取被含糊理由拒绝、而库存确实尚有剩余（前后均显示有库存，或之后领取者成功）的比例",
    "share of minors' mode puppets that could not turn the mode on": "无法开启未成年人模式的傀儡比例",
    "share of feed items shown in minors' mode from channels unsuitable for minors":
        "未成年人模式下信息流中来自不适宜未成年人频道的内容比例",
    "share of puppets seeking the elderly mode that could not reach it": "寻找长辈模式却无法到达的傀儡比例",
    "share of the disclosures (algorithm principles, hot-list rules, filing number) a user cannot find":
        "用户找不到的公示信息（算法原理、热榜规则、备案号）比例",
    "distinct permissions a feed does not need that the platform asked each puppet for":
        "平台向每个傀儡索取的、信息流并不需要的权限种数",
}
_PRICE_METRIC = re.compile(r"largest price gap by attribute \((?P<part>.*)\), % of the reference price")


def metric_in(lang: str, metric: str) -> str:
    """A verdict's metric in the report's language."""
    if lang != "zh":
        return metric
    price = _PRICE_METRIC.fullmatch(metric)
    if price:
        return f"各属性中最大的价差（{price['part']}），占参照价格的百分比"
    return METRICS_ZH.get(metric, metric)


LABELS: dict[str, dict[str, str]] = {
    "zh": {
        "title": "算法推荐黑盒审计报告",
        "run": "运行", "campaign": "审计方案", "target": "被审计平台", "driver": "驱动", "status": "状态",
        "created": "开始时间", "puppets": "傀儡账号", "rounds": "轮次", "sessions": "完成的会话",
        "summary": "结论汇总", "check": "检查项", "outcome": "结论", "metric": "指标", "effect": "效应量",
        "ci": "95% 置信区间", "p": "p 值", "threshold": "阈值", "n": "样本（处理/对照）", "mde": "最小可检测效应",
        "PASS": "通过", "FAIL": "不通过", "INCONCLUSIVE": "无法判定", "undecided": "未判定",
        "method": "方法", "regulation": "依据", "sample": "样本", "effect_ci": "效应与置信区间",
        "power": "检验效能", "noise_sd": "孪生噪声（单个傀儡标准差）", "puppets_needed": "判定所需每组傀儡数",
        "plots": "图表", "screenshots": "代表性证据截图", "artifacts": "证据文件", "evidence": "证据清单",
        "path": "路径", "kind": "类型", "sha256": "SHA-256", "bytes": "字节", "round": "轮次", "verb": "步骤",
        "more": "另有 {n} 条未列出", "note": "说明", "groups": "分组", "rounds_used": "所用轮次",
        "puppets_measured": "有测量值的傀儡", "direction_higher": "越高越好（用户控制的效果）",
        "promised": "承诺减少的内容", "measured_by": "测量方式", "reason": "理由", "warnings": "注意",
        "errors": "邻域误差", "errors_text": "对频道“{channel}”：灵敏度 {sensitivity}，误判率 {fpr}（{cards} 张标有频道的卡片）",
        "corrected": "已据此校正", "not_corrected": "未校正（卡片无频道，或邻域区分度不足）",
        "corrected_by_baseline": "与经同一邻域测量的基线组相抵",
        "direction_lower": "越低越好（违规的程度）", "direction": "方向",
        "mean_by_round": "各组每轮均值（阴影为 95% 自助法置信带）", "value": "数值",
        "mean_by_group": "各组均值（95% 自助法置信区间）",
        "price_gaps": "按属性的价差（%，含置信区间）", "gap_pct": "价差 %",
        "hot_rank": "热榜排名与展示热度", "rank": "排名", "heat": "展示热度", "inversion": "热度无法解释的排名",
        "flagged_entries": "排名无法解释的条目：展示热度与其内容页上的公开数据", "views": "阅读", "likes": "点赞",
        "comments": "评论", "published": "发布时间", "formula_value": "按公示公式计算的热度", "reasons": "原因",
        "reason_displayed": "排在其后的条目展示更高热度", "reason_formula_heat": "展示热度高于按公式和其数据可得的值",
        "reason_formula_rank": "按公式，排在其后的条目热度更高", "reason_counts": "排在其后、发布不更早的条目各项数据均远高于它",
        "formula_read": "从榜单规则页读取的公式", "no_formula": "榜单规则页未公示可核验的公式",
        "persona_line": "画像间榜单差异（1 − 平均重合度，超出孪生噪声的部分）：{effect}，95% 置信区间 [{low}, {high}]，阈值 {threshold}",
        "one_list_claim": "平台呈现为所有人同一榜单", "personal_claim": "平台声明榜单为个性化",
        "hotlist_section": "热榜观测", "appendix": "方法附录", "twins": "孪生傀儡", "controls": "对照组",
        "embedding": "嵌入模型", "thresholds": "阈值", "environment": "运行环境", "group": "分组", "persona": "画像",
        "role": "角色", "replicas": "副本数", "source": "来源", "campaign_value": "审计方案设定", "default": "默认值",
        "twins_text": "每个画像至少运行两个完全相同的傀儡（同组相邻副本两两配对）。孪生之间的差异就是平台自身的噪声"
                      "（A/B 测试、随机化、时间）；只有超过孪生基线的差异才算作效应。噪声用于计算最小可检测效应和判定所需样本量。",
        "controls_text": "对照组傀儡是同一画像的副本，与处理组同步运行但不执行干预（必要时执行不点按钮的安慰剂步骤），"
                         "因此对照组的曝光就是处理组未受干预时应有的曝光，平台随时间的漂移对两组相同。置信区间对傀儡做"
                         "方差校正的自助重抽样，p 值来自组标签置换检验（样本少时精确计算）。",
        "embedding_text": "条目标题以多语言句向量嵌入，并以各频道均值的平均为中心；参考条目语义邻域的余弦阈值在本次运行的条目上校准"
                          "（“比该值更近”以 80% 精确率预测平台所示同一频道，按固定先验 1/20 计算，每个频道最多 160 条；"
                          "达不到时取可达到的最近精确率并注明）；少数条目的中心（C3 所选条目）的邻域半径取使主题占比变化"
                          "最易检出之处（按同一先验），不写死任何余弦值。",
        "verdict_rule": "判定规则：整个置信区间落在阈值不利一侧为“不通过”，整个区间落在有利一侧（含阈值）为“通过”；"
                        "否则为“无法判定”，并给出判定所需的每组傀儡数。C2 对每个探测账号是/否的观察：一次拒绝即“不通过”。",
        "model": "模型", "neighbourhood": "邻域余弦阈值", "precision": "校准精确率", "item": "条目",
        "env_run": "本次运行", "env_report": "生成本报告", "version": "algoaudit 版本", "python": "Python",
        "playwright": "Playwright", "browser": "浏览器（向平台展示的 User-Agent）", "host": "主机", "not_recorded": "未记录",
        "generated": "报告生成于", "no_checks": "本次运行尚未分析，请先运行 algoaudit analyze。",
    },
    "en": {
        "title": "Black-box audit of a recommender system",
        "run": "Run", "campaign": "Campaign", "target": "Platform audited", "driver": "Driver", "status": "Status",
        "created": "Started", "puppets": "Puppets", "rounds": "Rounds", "sessions": "Complete sessions",
        "summary": "Verdicts", "check": "Check", "outcome": "Verdict", "metric": "Metric", "effect": "Effect",
        "ci": "95% CI", "p": "p", "threshold": "Threshold", "n": "n (treated/control)", "mde": "MDE",
        "PASS": "pass", "FAIL": "fail", "INCONCLUSIVE": "inconclusive", "undecided": "not decided",
        "method": "Method", "regulation": "Rule", "sample": "Sample", "effect_ci": "Effect and interval",
        "power": "Power", "noise_sd": "Twin noise (one puppet's SD)", "puppets_needed": "Puppets per group to decide",
        "plots": "Plots", "screenshots": "Representative evidence screenshots", "artifacts": "Evidence files",
        "evidence": "Evidence", "path": "Path", "kind": "Kind", "sha256": "SHA-256", "bytes": "Bytes",
        "round": "Round", "verb": "Step", "more": "{n} more not listed", "note": "Note", "groups": "Groups",
        "rounds_used": "Rounds used", "puppets_measured": "Puppets measured",
        "promised": "Promised less of", "measured_by": "Measured by", "reason": "Reason", "warnings": "Warnings",
        "errors": "Neighbourhood errors", "errors_text": "for the channel “{channel}”: sensitivity {sensitivity}, "
                  "false-positive rate {fpr} (on {cards} cards showing a channel)",
        "corrected": "corrected for", "not_corrected": "not corrected (no channels shown, or too little separation)",
        "corrected_by_baseline": "cancelled against the baseline, measured through the same neighbourhood",
        "direction_higher": "higher is better (a user control working)",
        "direction_lower": "lower is better (the size of a violation)", "direction": "Direction",
        "mean_by_round": "Mean per round and group (band: 95% bootstrap interval)", "value": "value",
        "mean_by_group": "Mean per group (95% bootstrap interval)",
        "price_gaps": "Price gap by attribute (%, with CI)", "gap_pct": "gap %",
        "hot_rank": "Hot-list rank against displayed heat", "rank": "rank", "heat": "displayed heat",
        "inversion": "rank no heat explains", "hotlist_section": "Hot-list observations", "appendix": "Methods appendix",
        "flagged_entries": "Entries whose rank is unexplained: displayed heat and the public counts on their own page",
        "views": "views", "likes": "likes", "comments": "comments", "published": "published",
        "formula_value": "heat by the published formula", "reasons": "why",
        "reason_displayed": "an entry ranked below shows more heat",
        "reason_formula_heat": "displayed heat above what the formula gives on its counts",
        "reason_formula_rank": "by the formula, an entry ranked below is hotter",
        "reason_counts": "an entry ranked below, published no earlier, has far more of every count",
        "formula_read": "Formula read from the rules page", "no_formula": "The rules page states no formula that can be checked",
        "persona_line": "Difference between personas' lists (1 − average overlap, beyond twin noise): {effect}, 95% CI [{low}, {high}], threshold {threshold}",
        "one_list_claim": "the platform presents one list for everyone", "personal_claim": "the platform says the list is personalised",
        "twins": "Twins", "controls": "Controls", "embedding": "Embedding model", "thresholds": "Thresholds",
        "environment": "Environment", "group": "Group", "persona": "Persona", "role": "Role", "replicas": "Replicas",
        "source": "Source", "campaign_value": "campaign", "default": "default",
        "twins_text": "Every persona runs as at least two identical puppets (consecutive replicas of a group are "
                      "paired). Differences between twins are the platform's own noise (A/B tests, randomisation, "
                      "time); an effect counts only beyond it. The noise gives the minimum detectable effect and the "
                      "puppets needed to decide.",
        "controls_text": "Control puppets are replicas of the treated persona that run in lock-step but skip the "
                         "intervention (doing a placebo step where the intervention picks items), so their exposure is "
                         "what the treated puppets would have had, and the platform's drift is the same for both. "
                         "Intervals resample puppets (variance-corrected bootstrap); p-values permute group labels "
                         "(exact with few puppets).",
        "embedding_text": "Item titles are embedded with a multilingual sentence model and centred on the mean of "
                          "the channel means; the cosine radius of the reference items' neighbourhood is calibrated on "
                          "the run's own items (closer than it predicts \"same channel as the platform shows it\" with "
                          "80% precision, judged at a fixed prior of 1/20 on at most 160 items per channel; where 80% "
                          "is out of reach, the nearest precision reachable, as reported); the radius around the "
                          "centroid of a handful of items (C3's picks) is where a change in the topic's share is most "
                          "detectable, at the same prior. No cosine is hard-coded.",
        "verdict_rule": "Verdict rule: FAIL when the whole interval lies on the wrong side of the threshold; PASS "
                        "when the whole interval lies on the right side of it (or on it); INCONCLUSIVE otherwise, "
                        "with the puppets per group that would decide it. C2 is a yes/no seen on every probe: one "
                        "refusal is a FAIL.",
        "model": "Model", "neighbourhood": "Neighbourhood cosine", "precision": "Calibration precision",
        "item": "item", "env_run": "this run", "env_report": "this report", "version": "algoaudit version",
        "python": "Python", "playwright": "Playwright", "browser": "Browser (user agent shown to the platform)",
        "host": "Host",
        "not_recorded": "not recorded", "generated": "Report generated", "no_checks":
        "This run has not been analysed yet: run algoaudit analyze first.",
    },
}


def _natural(check: str) -> tuple[int, str]:
    digits = "".join(ch for ch in check if ch.isdigit())
    return (int(digits) if digits else 10_000, check)


def _json(text: Any, default: Any) -> Any:
    if not isinstance(text, str):
        return text if text is not None else default
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return default


def report_language(db: RunTables) -> str:
    """zh when most puppets browse in Chinese, else en."""
    locales = collections.Counter(str(r.get("locale") or "") for r in db.rows("puppets"))
    top = locales.most_common(1)[0][0] if locales else ""
    return "zh" if top.lower().startswith("zh") else "en"


def _metric_plots(metrics: list[dict[str, Any]], group_of: dict[str, str], t: dict[str, str]) -> list[Markup]:
    """Per metric, the mean per round and group with its 95% bootstrap band; a metric measured
    once, without a round, as one interval per group."""
    by_metric: dict[str, dict[tuple[str, int | None], list[float]]] = {}
    for m in metrics:
        try:
            value = float(m["value"])
            rnd = None if m.get("round") is None else int(m["round"])
        except (TypeError, ValueError, KeyError):
            continue
        if not math.isfinite(value):
            continue
        group = group_of.get(str(m.get("puppet_id")), "?")
        by_metric.setdefault(str(m.get("metric")), {}).setdefault((group, rnd), []).append(value)
    plots = []
    for metric, cells in sorted(by_metric.items()):
        timed = {key: values for key, values in cells.items() if key[1] is not None}
        if timed:
            bands = [Band(group, rnd, *bootstrap_band(values), n=len(values))
                     for (group, rnd), values in sorted(timed.items()) if rnd is not None]
            plots.append(line_chart(bands, title=f"{metric} — {t['mean_by_round']}", x_label=t["round"],
                                    y_label=metric))
        else:
            rows = [(f"{group} (n={len(values)})", *bootstrap_band(values))
                    for (group, _), values in sorted(cells.items())]
            plots.append(interval_chart(rows, title=f"{metric} — {t['mean_by_group']}", x_label=metric))
    return plots


def _hotlist_plot(db: RunTables, t: dict[str, str]) -> Markup | None:
    rows = db.rows("hotlist_entries",
                   "SELECT h.session_id, h.load, h.rank, h.heat_text, i.title FROM hotlist_entries h "
                   "LEFT JOIN items i USING (item_key) ORDER BY h.session_id, h.load, h.rank"
                   if "items" in db.tables else
                   "SELECT session_id, load, rank, heat_text, NULL AS title FROM hotlist_entries "
                   "ORDER BY session_id, load, rank")
    snapshots: dict[tuple[Any, Any], list[tuple[int, float, str]]] = {}
    for r in rows:
        heat = parse_heat(r.get("heat_text"))
        if heat is not None and r.get("rank") is not None:
            snapshots.setdefault((r.get("session_id"), r.get("load")), []).append(
                (int(r["rank"]), heat, f"{r.get('title') or ''} ({r.get('heat_text')})"))
    points: list[HeatPoint] = []
    keys = sorted(snapshots, key=str)
    # A long campaign keeps thousands of snapshots; an even sample of them draws the same picture.
    step = max(1, math.ceil(len(keys) / _HOT_SNAPSHOTS))
    for entries in (snapshots[k] for k in keys[::step]):
        hottest_below = -math.inf
        # From the bottom up: an entry is unexplained when one ranked below it shows more heat.
        for rank, heat, label in sorted(entries, reverse=True):
            points.append(HeatPoint(rank, heat, label, unexplained=hottest_below > heat))
            hottest_below = max(hottest_below, heat)
    if not points:
        return None
    return rank_heat_chart(points, title=t["hot_rank"], x_label=t["rank"], y_label=t["heat"],
                           unexplained_label=t["inversion"])


def _hot_details(details: dict[str, Any], t: dict[str, str]) -> dict[str, Any]:
    """C6's flagged entries (rank, displayed heat, own counts, the formula's range, why), the formula
    read and the persona line, as plain text for the template to escape."""
    flagged = []
    for f in details.get("flagged_entries") or []:
        if not isinstance(f, dict):
            continue
        low, high = f.get("formula_low"), f.get("formula_high")
        reasons = f.get("reasons") if isinstance(f.get("reasons"), list) else []
        flagged.append({
            "rank": f.get("rank"), "title": str(f.get("title") or f.get("item") or ""), "item": str(f.get("item") or ""),
            "heat": str(f.get("heat_text") or ""), "views": str(f.get("views_text") or ""),
            "likes": str(f.get("likes_text") or ""), "comments": str(f.get("comments_text") or ""),
            "published": str(f.get("published_text") or ""),
            "formula": "" if low is None or high is None else f"{_fmt(low, ',.0f')}–{_fmt(high, ',.0f')}",
            "reasons": "; ".join(t.get(f"reason_{r}", str(r)) for r in reasons)})
    formula = details.get("formula") if isinstance(details.get("formula"), dict) else None
    persona = details.get("persona_dependence") if isinstance(details.get("persona_dependence"), dict) else {}
    line = ""
    if persona.get("effect") is not None:
        line = t["persona_line"].format(effect=_fmt(persona.get("effect")), low=_fmt(persona.get("ci_low")),
                                        high=_fmt(persona.get("ci_high")), threshold=_fmt(persona.get("threshold")))
        line += "; " + t["one_list_claim" if persona.get("one_list_presented") else "personal_claim"]
    return {"flagged": flagged, "formula": str(formula.get("text") or "") if formula else "", "persona": line}


def _thumbnail(path: Path) -> str | None:
    """A screenshot as a small JPEG data: URI, cropped to its top (full-page captures are tall)."""
    try:
        with Image.open(path) as img:
            img = img.convert("RGB")
            width, height = img.size
            img = img.crop((0, 0, width, min(height, width * 3 // 2)))
            img.thumbnail((_THUMB_WIDTH, _THUMB_WIDTH * 2))
            buffer = io.BytesIO()
            img.save(buffer, format="JPEG", quality=70)
    except (OSError, ValueError):
        return None
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _artifact_rows(db: RunTables) -> list[dict[str, Any]]:
    return db.rows("artifacts",
                   "SELECT a.*, c.verb AS verb, c.status AS step_status FROM artifacts a "
                   "LEFT JOIN commands c ON c.id = a.command_id ORDER BY a.id"
                   if "commands" in db.tables else "SELECT *, NULL AS verb, NULL AS step_status FROM artifacts")


def _artifacts_for(rows: list[dict[str, Any]], check: str, evidence: list[str]) -> list[dict[str, Any]]:
    """The check's evidence files: those its evidence names first, then those of the steps it rests on
    (failed steps first: a missing control is the finding)."""
    named = [r for r in rows if r.get("path") and any(str(r["path"]) in e for e in evidence)]
    taken = {id(r) for r in named}
    verbs = CHECK_VERBS.get(check, ())
    by_step = sorted((r for r in rows if r.get("verb") in verbs and id(r) not in taken),
                     key=lambda r: (r.get("step_status") == "ok", r.get("id") or 0))
    return [{k: None for k in _ARTIFACT_COLUMNS} | r for r in named + by_step]


def _evidence(evidence: list[Any], titles: dict[str, str]) -> list[dict[str, str]]:
    out = []
    for e in evidence:
        text = str(e)
        named = [titles[token] for token in text.split() if token in titles]
        out.append({"text": text, "titles": " / ".join(named)})
    return out


def _environment(db: RunTables, run: dict[str, Any], verdicts: list[dict[str, Any]]) -> list[dict[str, str]]:
    agents = [str(r.get("user_agent") or "") for r in db.rows("puppets")]
    browsers = sorted({m.group(0) for a in agents if (m := re.search(r"(?:Headless)?Chrom(?:e|ium)/[\d.]+", a))})
    models = sorted({str(v["details"]["model"]) for v in verdicts if v["details"].get("model")})

    def recorded(*keys: str) -> str | None:
        return next((str(run[k]) for k in keys if run.get(k)), None)

    # The chain of custody records the Python of each command on the run; the run's own is the one.
    custody = db.rows("custody", "SELECT python, detail FROM custody ORDER BY id")
    pythons = [str(c["python"]) for c in custody if c.get("python") and '"action": "run"' in str(c.get("detail"))]

    def installed(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return ""

    return [
        {"key": "version", "run": recorded("algoaudit_version") or "", "report": installed("algoaudit")},
        {"key": "python", "run": recorded("python_version", "python") or ", ".join(sorted(set(pythons))),
         "report": platform.python_version()},
        {"key": "playwright", "run": recorded("playwright_version", "playwright") or "",
         "report": installed("playwright")},
        {"key": "browser", "run": recorded("browser_version", "browser") or ", ".join(browsers), "report": ""},
        {"key": "host", "run": recorded("host") or "", "report": platform.node()},
        {"key": "embedding", "run": ", ".join(models), "report": ""},
    ]


def _fmt(value: Any, spec: str = ".3f") -> str:
    if value is None or value == "":
        return "—"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(number):
        return "—"
    return format(number, spec)


# What a control promised and how it was measured (C1, C3–C5 write these in English), as a Chinese
# report shows them; a label the platform showed (a channel name) after " (" is kept as it was.
SCOPES_ZH: dict[str, str] = {
    "the rejected items and their near-duplicates": "所拒条目及其近重复内容",
    "the rejected items' channel": "所拒条目的频道",
    "the rejected items' authors": "所拒条目的作者",
    "items of the deleted tag": "已删除标签的内容",
    "channel labels the platform shows on its cards": "平台在卡片上显示的频道标签（直接证据）",
    "author labels the platform shows on its cards": "平台在卡片上显示的作者标签（直接证据）",
    "the items each puppet acted on and their near-duplicates in embedding space":
        "每个傀儡所操作的条目及其在嵌入空间中的近重复内容",
    "embedding neighbourhood of the reference items' centroid": "参照条目中心的语义邻域",
    "embedding neighbourhood of the reference items": "参照条目的语义邻域",
    "embedding neighbourhood of the items read with interest": "有兴趣阅读过的条目的语义邻域",
    "embedding neighbourhood of the items each persona read with interest": "各画像有兴趣阅读过的条目的语义邻域",
}


def _in_lang(lang: str, text: Any) -> str:
    """A scope's words in the report's language (the label in brackets, the platform's, as it was)."""
    text = str(text or "")
    if lang != "zh":
        return text
    head, bracket, rest = text.partition(" (")
    return SCOPES_ZH.get(head, head) + (f"（{rest.rstrip(')')}）" if bracket else "")


def _scope(details: dict[str, Any], lang: str) -> list[dict[str, str]]:
    """Per reason (one row where a check has no reasons): what was promised and how it was measured."""
    by_reason = details.get("by_reason")
    rows = by_reason.items() if isinstance(by_reason, dict) else [(details.get("reason") or "", details)]
    return [{"reason": str(reason), "promised": _in_lang(lang, row.get("promised")),
             "measured_by": _in_lang(lang, row.get("measured_by")),
             "outcome": str(row.get("outcome") or row.get("why") or "")}
            for reason, row in rows if isinstance(row, dict) and (row.get("measured_by") or row.get("why"))]


def _errors(errors: Any, t: dict[str, str]) -> str:
    """How a check's neighbourhood erred on the cards it measured, in words ("" when it has none)."""
    if not isinstance(errors, dict) or not errors.get("topic_channel"):
        return ""
    text = t["errors_text"].format(channel=errors["topic_channel"], sensitivity=_fmt(errors.get("sensitivity"), ".2f"),
                                   fpr=_fmt(errors.get("false_positive_rate")), cards=_fmt(errors.get("cards"), "g"))
    if errors.get("corrected_by") == "baseline":
        return f"{text}; {t['corrected_by_baseline']}"
    return f"{text}; {t['corrected'] if errors.get('corrected') else t['not_corrected']}"


def _context(run_dir: Path, lang: str | None) -> dict[str, Any]:
    db = RunTables(run_dir)
    try:
        lang = lang or report_language(db)
        if lang not in LABELS:
            raise ValueError(f"unknown report language {lang!r}: use one of {', '.join(LABELS)}")
        t = LABELS[lang]
        run = {k: None for k in _RUN_COLUMNS} | (db.rows("runs") or [{}])[0]
        try:
            campaign = yaml.safe_load(run["campaign_yaml"]) if run.get("campaign_yaml") else {}
        except yaml.YAMLError:
            campaign = {}
        campaign = campaign if isinstance(campaign, dict) else {}
        puppets = db.rows("puppets")
        group_of = {str(p["puppet_id"]): str(p.get("group_name") or "?") for p in puppets if p.get("puppet_id")}
        verdicts = db.rows("verdicts")
        verdicts = [{k: None for k in _VERDICT_COLUMNS} | v for v in verdicts]
        for v in verdicts:
            v["metric"] = metric_in(lang, str(v["metric"] or ""))
            evidence = _json(v.get("evidence"), [])
            v["evidence"] = evidence if isinstance(evidence, list) else [evidence]
            details = _json(v.get("details"), {})
            v["details"] = details if isinstance(details, dict) else {}
        notes = {str(n["check"]): str(n.get("note") or "") for n in db.rows("analysis_notes") if n.get("check")}
        metrics = db.rows("metrics")
        titles = {str(i["platform_item_id"]): str(i.get("title") or "") for i in db.rows("items")
                  if i.get("platform_item_id")}
        verdict_of = {str(v["check"]): v for v in verdicts}
        checks = sorted(set(verdict_of) | set(notes) | {str(m["check"]) for m in metrics if m.get("check")},
                        key=_natural)
        hot_plot = _hotlist_plot(db, t)
        artifact_rows = _artifact_rows(db)
        sections = []
        for check in checks:
            verdict = verdict_of.get(check)
            mine = [m for m in metrics if str(m.get("check")) == check]
            plots = _metric_plots(mine, group_of, t)
            if verdict is not None and isinstance(verdict["details"].get("by_attribute"), list) \
                    and verdict["details"]["by_attribute"]:
                rows = [r for r in verdict["details"]["by_attribute"] if isinstance(r, dict)]
                plots.append(price_gap_chart(rows, title=t["price_gaps"], x_label=t["gap_pct"]))
            if check == "C6" and hot_plot is not None:
                plots.append(hot_plot)
                hot_plot = None
            evidence = verdict["evidence"] if verdict else []
            artifacts = _artifacts_for(artifact_rows, check, [str(e) for e in evidence])
            shots = []
            for a in artifacts:
                if len(shots) >= _SCREENSHOTS or not str(a.get("path") or "").lower().endswith(_IMAGES):
                    continue
                uri = _thumbnail(run_dir / str(a.get("path")))
                if uri is not None:
                    shots.append({"uri": uri, "path": a.get("path"), "verb": a.get("verb") or "",
                                  "round": a.get("round"), "status": a.get("step_status") or ""})
            details = verdict["details"] if verdict else {}
            sections.append({
                "id": check, "name": CHECK_NAMES.get(check, {}).get(lang, check),
                "regulation": REGULATION.get(check, ""), "method": METHODS.get(check, {}).get(lang, ""),
                "verdict": verdict, "note": notes.get(check, ""), "plots": plots, "screenshots": shots,
                "artifacts": artifacts[:_ARTIFACT_ROWS], "artifacts_more": max(0, len(artifacts) - _ARTIFACT_ROWS),
                "evidence": _evidence(evidence[:_EVIDENCE_ROWS], titles),
                "evidence_more": max(0, len(evidence) - _EVIDENCE_ROWS),
                "groups": sorted({group_of.get(str(m.get("puppet_id")), "?") for m in mine}),
                "rounds": sorted({m["round"] for m in mine if m.get("round") is not None}),
                "puppets_measured": len({m.get("puppet_id") for m in mine}),
                "details_rounds": details.get("rounds") if isinstance(details.get("rounds"), dict) else {},
                "errors": _errors(details.get("neighbourhood_errors"), t),
                "scope": _scope(details, lang),
                "warnings": [str(n) for n in details.get("notes") or [] if n] if isinstance(details.get("notes"), list)
                else [],
                "hot": _hot_details(details, t) if check == "C6" and verdict is not None else None,
            })
        groups: dict[str, dict[str, Any]] = {}
        for p in puppets:
            g = groups.setdefault(str(p.get("group_name") or "?"), {"persona": p.get("persona_id") or "",
                                                                    "role": p.get("role") or "", "replicas": 0})
            g["replicas"] += 1
        configured = campaign.get("thresholds") or {}
        thresholds = [{"check": v["check"], "threshold": v.get("threshold"), "direction": v.get("direction"),
                       "source": t["campaign_value"] if v["check"] in configured else t["default"]}
                      for v in sorted(verdicts, key=lambda v: _natural(str(v["check"])))]
        embedding = sorted({(str(v["details"].get("model")), _fmt(v["details"].get("neighbourhood_cosine")),
                             _fmt(v["details"].get("calibration_precision"), ".2f"))
                            for v in verdicts if v["details"].get("model")})
        sessions = db.rows("sessions", "SELECT COUNT(*) AS n FROM sessions WHERE status = 'complete'")
        return {
            "lang": lang, "t": t, "run": run, "campaign": campaign, "sections": sections, "hot_plot": hot_plot,
            "n_puppets": len(puppets), "n_rounds": len(db.rows("rounds")),
            "n_sessions": sessions[0]["n"] if sessions else 0, "groups": groups, "thresholds": thresholds,
            "embedding": embedding, "environment": _environment(db, run, verdicts),
            "generated": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        }
    finally:
        db.close()


def templates() -> jinja2.Environment:
    """The reports' templates: autoescaped, strict about missing values."""
    env = jinja2.Environment(loader=jinja2.PackageLoader("audits", "templates"), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["num"] = _fmt
    return env


def render_report(run_dir: Path, *, lang: str | None = None) -> str:
    """The run's inspection report as one self-contained HTML page (inline CSS, SVG plots and
    screenshots; no script). ``lang``: ``zh`` or ``en``; default from the puppets' locale."""
    return templates().get_template("report.html.j2").render(**_context(Path(run_dir), lang))


def write_report(run_dir: Path, out_dir: Path | None = None, *, lang: str | None = None,
                 pdf: bool = True) -> list[Path]:
    """Write ``report.html`` (and ``report.pdf``, through WeasyPrint) into ``out_dir`` (default
    ``RUN/report/``); returns the files written."""
    run_dir = Path(run_dir)
    html = render_report(run_dir, lang=lang)
    out_dir = Path(out_dir) if out_dir is not None else run_dir / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = [out_dir / "report.html"]
    written[0].write_text(html, encoding="utf-8")
    if pdf:
        from weasyprint import (
            HTML,  # imported here: PDF output is the slow, optional part
        )

        HTML(string=html, base_url=str(out_dir)).write_pdf(out_dir / "report.pdf")
        written.append(out_dir / "report.pdf")
    return written
