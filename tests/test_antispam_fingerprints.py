"""What the wave detector sees of a text: disguises undone, contacts set apart."""

from __future__ import annotations

import pytest

from service.antispam.fingerprints import fingerprint, similarity, skeleton_of

ADVERT = "刷单兼职，日结300元，在家就能做，加V信abc12345详聊！"


@pytest.mark.parametrize(
    "disguised",
    [
        "刷 单 兼 职，日 结 300 元，在 家 就 能 做，加 V 信 abc12345 详 聊！",  # spaces
        "刷.单.兼.职.日.结.3.0.0元.在.家.就.能.做.加.V.信.abc12345.详.聊",  # punctuation
        "刷😀单🔥兼💰职，日结300元，在家就能做，加V信abc12345详聊！",  # emoji
        "刷单兼职，日结３００元，在家就能做，加Ｖ信ａｂｃ１２３４５详聊！",  # full width
        "刷單兼職，日結300元，在家就能做，加V信abc12345詳聊！",  # traditional
        "刷单兼职，日结300元，在家就能做，加薇信abc12345详聊！",  # channel written out
        "刷单兼职，日结300元，在家就能做，加vx abc12345详聊！",
    ],
)
def test_disguises_fold_to_the_same_skeleton(disguised):
    assert skeleton_of(disguised)[0] == skeleton_of(ADVERT)[0]


def test_a_different_contact_id_in_every_post_leaves_the_skeleton_alone():
    first, first_contacts = skeleton_of("加V信abc12345详聊，日结300元")
    second, second_contacts = skeleton_of("加V信xyz98765详聊，日结500元")

    assert first == second == "加微信@详聊日结9元"
    assert first_contacts == ("id:abc12345",)
    assert second_contacts == ("id:xyz98765",)


@pytest.mark.parametrize(
    ("text", "contact"),
    [
        ("代开发票，电话13812345678", "phone:13812345678"),
        ("代开发票，电话１３８１２３４５６７８", "phone:13812345678"),
        ("代开发票 一三八一二三四五六七八", "phone:13812345678"),
        ("博彩官网 abc888.com 注册送彩金", "url:abc888com"),
        ("博彩官网 abc888点com 注册送彩金", "url:abc888com"),
        ("删帖请加扣扣 12345678", "phone:12345678"),
        ("贷款找我，微信 zhangsan88", "id:zhangsan88"),
    ],
)
def test_contacts_are_found_however_written(text, contact):
    assert contact in fingerprint(text).contacts


@pytest.mark.parametrize("text", ["顶", "支持", "说得好", "中国队加油！", "转发了", "666"])
def test_short_phrases_carry_little_text_and_no_contact(text):
    found = fingerprint(text)

    assert found.contacts == ()
    assert found.text_length < 12


def test_everyday_numbers_are_no_contact():
    assert fingerprint("房价一年涨了300元每平米，工资才涨100，2024年还会涨吗").contacts == ()


def test_mutated_adverts_are_similar_and_different_texts_are_not():
    base = fingerprint(ADVERT)
    mutated = fingerprint("说得好！刷 单 兼 职，日结５００元，在家就能做，加薇信 qwe55555 详聊😀")
    other = fingerprint("这篇报道写得很详细，感谢记者的辛勤工作，希望多做这样的调查。")

    assert similarity(base.signature, mutated.signature) >= 0.6
    assert similarity(base.signature, other.signature) < 0.2


def test_similar_texts_share_an_index_key_and_unrelated_ones_do_not():
    base = fingerprint(ADVERT)
    mutated = fingerprint("刷单兼职！日结200元，在家就能做，加V信zzz11111详聊")
    other = fingerprint("希望有关部门尽快落实相关政策，让老百姓早日受益。")

    assert set(base.band_keys()) & set(mutated.band_keys())
    assert not set(base.band_keys()) & set(other.band_keys())
