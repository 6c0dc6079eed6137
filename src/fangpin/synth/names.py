"""Chinese names from our own short lists: surnames weighted roughly by frequency, given names of 1–2 chars.

Every character is in GBK, so any file can be re-encoded without loss.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

# The most common surnames, most frequent first; southern (Jiangxi/Hunan/Guangdong) names are well represented.
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘蒋蔡余杜叶程魏苏吕丁任"
    "沈姚卢钟姜崔谭陆汪范金石廖贾夏韦付方邹熊白孟秦邱江尹薛段雷侯龙史陶黎贺顾毛郝龚邵万钱严赖覃洪武"
    "戴莫孔汤向常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮"
    "柯纪梅童凌毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古"
)
MALE_CHARS = (
    "伟强军勇杰涛斌明辉刚健峰磊超波鹏华平飞亮建国文武志春林海东生龙宏新荣德成俊祥瑞福贵金水发根财"
    "永忠庆兵红光宝清良山云泉家兴旺胜利安宇浩然晨阳"
)
FEMALE_CHARS = "芳娟敏静丽艳霞燕红梅玲英华兰秀珍凤琴莲萍菊月桂香花春美秀娥翠云晶婷雪琳颖欣怡佳雨倩洁慧丹萱"
# Visually or phonetically close characters, used for name typos (姓名录入错误).
TYPO_PAIRS = dict(
    zip(
        "王李张刘陈杨黄赵吴周伟强军明华平文春林东英芳秀红兰梅玲丽燕霞建国生",
        "汪季章留程扬皇照武洲玮墙君名桦萍闻椿琳冬瑛方绣宏岚枚铃莉艳侠健帼升",
        strict=True,
    )
)


def _weights(n: int) -> npt.NDArray[np.float64]:
    # Zipf-like: the top 100 surnames cover ~85 % of people
    w: npt.NDArray[np.float64] = 1.0 / np.arange(1, n + 1, dtype=np.float64) ** 0.9
    out: npt.NDArray[np.float64] = w / w.sum()
    return out


SURNAME_WEIGHTS = _weights(len(SURNAMES))


def surnames(rng: np.random.Generator, n: int) -> npt.NDArray[np.int32]:
    """Indices into SURNAMES."""
    return rng.choice(len(SURNAMES), size=n, p=SURNAME_WEIGHTS).astype(np.int32)


def full_names(
    rng: np.random.Generator, surname_idx: npt.NDArray[Any], male: npt.NDArray[np.bool_]
) -> pa.StringArray:
    """Surname + 1 or 2 given-name characters chosen by sex; built with Arrow kernels, no Python loop."""
    n = len(surname_idx)
    sur = pa.array(list(SURNAMES)).take(pa.array(surname_idx))
    m_pool = pa.array(list(MALE_CHARS))
    f_pool = pa.array(list(FEMALE_CHARS))

    def pick() -> pa.Array:
        mi = pa.array(rng.integers(0, len(MALE_CHARS), n))
        fi = pa.array(rng.integers(0, len(FEMALE_CHARS), n))
        return pc.if_else(pa.array(male), m_pool.take(mi), f_pool.take(fi))

    first = pick()
    second = pick()
    two = pa.array(rng.random(n) < 0.72)
    empty = pa.array([""] * 1, pa.string()).take(pa.array(np.zeros(n, np.int32)))
    second = pc.if_else(two, second, empty)
    result: pa.StringArray = pc.binary_join_element_wise(sur, first, second, "")
    return result


def typo(name: str, rng: np.random.Generator) -> str:
    """One character changed to a look-alike/sound-alike, or to a random common character."""
    chars = list(name)
    positions = [i for i, c in enumerate(chars) if c in TYPO_PAIRS] or list(range(1, len(chars)))
    if not positions:
        return name + "之"
    i = positions[int(rng.integers(0, len(positions)))]
    replacement = TYPO_PAIRS.get(chars[i])
    if replacement is None or replacement == chars[i]:
        pool = MALE_CHARS + FEMALE_CHARS
        replacement = pool[int(rng.integers(0, len(pool)))]
        if replacement == chars[i]:
            replacement = "之"
    chars[i] = replacement
    return "".join(chars)
