"""The action labels operators' exports use, and the event type each one means.

SCRM tools, 群管 bots and hand-kept spreadsheets write a member's action as a
word in one column: ``入群``, ``发言``, ``被移出群聊``, ``抢红包``... The
generic CSV / Excel importer (:mod:`shequn_ml.importers.mapped`) reads that
column through :data:`LABELS`, after the mapping file's own ``labels:``, which
override and extend it.

=====================================  ====================
label in the export                    event type
=====================================  ====================
入群, 加入群聊, 进群                   ``join``
退群, 退出群聊                         ``leave``
被移出群聊, 移出群聊, 踢出             ``removed``
发言, 消息, 文本                       ``message``
回复, 引用                             ``reply``
@, ＠, 艾特, 提及                      ``mention``
点赞, 表情回应                         ``reaction``
分享, 链接, 文章                       ``post``
提问                                   ``question``
回答, 解答                             ``answer``
签到, 打卡                             ``checkin``
邀请, 拉新, 邀请入群                   ``invite``
发红包                                 ``red_packet_send``
领红包, 抢红包                         ``red_packet_claim``
领券                                   ``coupon_claim``
核销, 用券                             ``coupon_redeem``
购买, 下单                             ``purchase``
续费                                   ``renew``
报名, 接龙                             ``event_signup``
线下活动, 到场                         ``offline_attend``
=====================================  ====================

The contract's own names (``join``, ``message``, ``red_packet_claim``, ... and
any type added with :func:`shequn_ml.schema.register_event_type`) are labels
too. Labels are matched after removing whitespace (ASCII and full-width), and
ASCII letters case-insensitively (``Join`` is ``join``).

Examples
--------
>>> event_type_of(" 被移出群聊 "), event_type_of("抢红包"), event_type_of("Message")
('removed', 'red_packet_claim', 'message')
>>> event_type_of("抽奖") is None
True
>>> event_type_of("抽奖", {"抽奖": "event_signup"})
'event_signup'
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from shequn_ml import schema

#: Built-in labels (normalised with :func:`normalise_label`) and their event types.
LABELS: dict[str, str] = {
    # membership
    "入群": "join", "加入群聊": "join", "进群": "join",
    "退群": "leave", "退出群聊": "leave",
    "被移出群聊": "removed", "移出群聊": "removed", "踢出": "removed",
    # speaking
    "发言": "message", "消息": "message", "文本": "message",
    "回复": "reply", "引用": "reply",
    "分享": "post", "链接": "post", "文章": "post",
    "提问": "question",
    "回答": "answer", "解答": "answer",
    "签到": "checkin", "打卡": "checkin",
    # interaction
    "@": "mention", "＠": "mention", "艾特": "mention", "提及": "mention",
    "点赞": "reaction", "表情回应": "reaction",
    "邀请": "invite", "拉新": "invite", "邀请入群": "invite",
    # benefit
    "发红包": "red_packet_send",
    "领红包": "red_packet_claim", "抢红包": "red_packet_claim",
    "领券": "coupon_claim",
    "核销": "coupon_redeem", "用券": "coupon_redeem",
    "购买": "purchase", "下单": "purchase",
    "续费": "renew",
    # activity
    "报名": "event_signup", "接龙": "event_signup",
    "线下活动": "offline_attend", "到场": "offline_attend",
}

_SPACE = re.compile(r"\s+")  # str patterns match Unicode whitespace, full-width space included
_ASCII_UPPER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def normalise_label(label: object) -> str:
    """A label as matched: whitespace removed, ASCII letters lower-cased.

    >>> normalise_label(" Red_Packet_Send\\u3000"), normalise_label("加入 群聊")
    ('red_packet_send', '加入群聊')
    """
    return _SPACE.sub("", str(label)).translate(_ASCII_UPPER)


def event_type_of(label: object, extra: Mapping[str, str | None] | None = None) -> str | None:
    """The event type a label means, or None when it is unknown.

    Parameters
    ----------
    label : str
        The cell of the export's action column.
    extra : mapping, optional
        Labels of the mapping file (normalised or not), looked up first; a label
        mapped to None is unknown on purpose (the importer counts it as ignored).

    Returns
    -------
    str or None
        A name of :data:`shequn_ml.schema.EVENT_TYPES`.
    """
    key = normalise_label(label)
    if extra:
        own = {normalise_label(k): v for k, v in extra.items()}
        if key in own:
            return own[key]
    if key in LABELS:
        return LABELS[key]
    if key in schema.EVENT_TYPES:
        return key
    return None


__all__ = ["LABELS", "event_type_of", "normalise_label"]
