"""Cutting a page into text blocks, and the features the block classifier reads from them."""

from __future__ import annotations

from lxml.html import HtmlElement

from workers.stages.clean.block_features import FEATURE_NAMES, block_features
from workers.stages.clean.blocks import CLASS_GROUP_NAMES, Block, page_blocks
from workers.stages.clean.html import parse_html


def _tree(body: str) -> HtmlElement:
    tree = parse_html(f"<html><head><title>T</title></head><body>{body}</body></html>")
    assert tree is not None
    return tree


def _blocks(body: str) -> list[Block]:
    return page_blocks(_tree(body))


def _feature(rows: list[list[float]], index: int, name: str) -> float:
    return rows[index][FEATURE_NAMES.index(name)]


def test_inline_elements_join_the_text_of_their_block() -> None:
    blocks = _blocks("<p>The <b>council</b> voted <a href='/x'>on Monday</a>.</p>")
    assert [b.text for b in blocks] == ["The council voted on Monday ."]
    assert blocks[0].links == 1
    assert blocks[0].link_chars == len("on Monday")


def test_loose_text_and_nested_paragraphs_are_separate_blocks_in_reading_order() -> None:
    blocks = _blocks("<div>Before <p>Inside one.</p> after <p>Inside two.</p></div>")
    assert [b.text for b in blocks] == ["Before", "Inside one.", "after", "Inside two."]
    assert [b.index for b in blocks] == [0, 1, 2, 3]


def test_scripts_styles_and_form_controls_give_no_text() -> None:
    blocks = _blocks(
        "<p>Story.<script>var x = 1;</script></p><style>p {}</style>"
        "<select><option>Choose</option></select><button>Send</button>"
    )
    assert [b.text for b in blocks] == ["Story."]


def test_blocks_know_their_ancestor_tags() -> None:
    blocks = _blocks("<article><p>Story.</p></article><aside><p>Rail.</p></aside>")
    story, rail = blocks
    assert story.ancestors & 1  # article is the first ANCESTOR_TAGS flag
    assert not rail.ancestors & 1
    assert rail.ancestors & (1 << 2)  # aside


def test_class_and_id_words_are_counted_by_group() -> None:
    blocks = _blocks(
        "<div class='article-body'><p>Story.</p></div>"
        "<div id='comments'><div class='comment-list'><p>Nice post.</p></div></div>"
    )
    content = CLASS_GROUP_NAMES.index("content")
    comment = CLASS_GROUP_NAMES.index("comment")
    assert blocks[0].groups[content] == 1
    assert blocks[0].groups[comment] == 0
    assert blocks[1].groups[comment] == 2


def test_an_inline_elements_class_words_and_visibility_reach_the_blocks_inside_it() -> None:
    blocks = _blocks(
        "<p>Lead <span class='comment'>inline</span> text.</p>"
        "<span class='comment' hidden><div>Reply inside a span.</div></span>"
    )
    comment = CLASS_GROUP_NAMES.index("comment")
    assert [b.text for b in blocks] == ["Lead inline text.", "Reply inside a span."]
    assert blocks[0].groups[comment] == 0  # an inline element's words are not its block's
    assert not blocks[0].hidden
    assert blocks[1].groups[comment] == 1
    assert blocks[1].hidden


def test_hidden_elements_are_marked() -> None:
    blocks = _blocks("<div style='display: none'><p>Hidden.</p></div><p>Shown.</p>")
    assert [b.hidden for b in blocks] == [True, False]


def test_every_block_gets_one_value_per_feature_name() -> None:
    blocks = _blocks("<h1>Headline</h1><p>One two three four.</p><p>Five six.</p>")
    rows = block_features(blocks, "Headline", None, [False] * len(blocks))
    assert len(rows) == len(blocks)
    assert all(len(row) == len(FEATURE_NAMES) for row in rows)


def test_jsonld_membership_compares_word_tokens() -> None:
    blocks = _blocks("<p>The council voted, 7-2.</p><p>Subscribe now!</p>")
    rows = block_features(blocks, "", "the body: The council voted 7 - 2", [False, False])
    assert _feature(rows, 0, "in_jsonld") == 1.0
    assert _feature(rows, 1, "in_jsonld") == 0.0


def test_blocks_after_the_headline_are_marked() -> None:
    blocks = _blocks("<p>Menu item</p><h1>The Headline</h1><p>Story text.</p>")
    rows = block_features(blocks, "The headline", None, [False] * 3)
    assert [_feature(rows, i, "is_headline") for i in range(3)] == [0.0, 0.0, 0.0]
    rows = block_features(blocks, "The Headline", None, [False] * 3)
    assert [_feature(rows, i, "is_headline") for i in range(3)] == [0.0, 1.0, 0.0]
    assert [_feature(rows, i, "after_headline") for i in range(3)] == [0.0, 0.0, 1.0]


def test_the_container_with_most_running_text_is_found() -> None:
    story = "".join(f"<p>{'word ' * 30}number {i}.</p>" for i in range(4))
    blocks = _blocks(f"<div><p>{'menu ' * 12}</p></div><div class='x'>{story}</div>")
    rows = block_features(blocks, "", None, [False] * len(blocks))
    assert _feature(rows, 0, "in_best_container") == 0.0
    assert all(_feature(rows, i, "in_best_container") == 1.0 for i in range(1, 5))


def test_each_container_counts_only_its_own_words() -> None:
    """Containers no block owns (bare wrappers) must not be mixed up with one another."""
    wrappers = "".join(f"<div><div><p>{'word ' * words}</p></div></div>" for words in (3, 6, 9, 12))
    blocks = _blocks(wrappers)
    rows = block_features(blocks, "", None, [False] * len(blocks))
    shares = [_feature(rows, i, "parent_share") for i in range(4)]
    assert shares == [3 / 30, 6 / 30, 9 / 30, 12 / 30]


def test_a_comment_thread_is_not_taken_for_the_story_container() -> None:
    """A short post under a long comment thread: the thread's wrapper must not win."""
    post = "".join(f"<p>{'story ' * 20}part {i}.</p>" for i in range(2))
    thread = "".join(
        f"<li><div class='comment-body'><p>{'reply ' * 30}{i}.</p></div></li>" for i in range(6)
    )
    blocks = _blocks(f"<div class='post'>{post}</div><ol class='comments'>{thread}</ol>")
    rows = block_features(blocks, "", None, [False] * len(blocks))
    assert [_feature(rows, i, "in_best_container") for i in range(2)] == [1.0, 1.0]
    assert all(_feature(rows, i, "in_best_container") == 0.0 for i in range(2, 8))
    assert all(_feature(rows, i, "after_best_container") > 0.0 for i in range(2, 8))


def test_blocks_after_the_first_comment_block_are_marked() -> None:
    blocks = _blocks(
        "<p>Story.</p><div id='comments'><p>First reply.</p></div><p>Teaser after.</p>"
    )
    rows = block_features(blocks, "", None, [False] * 3)
    assert [_feature(rows, i, "after_comment_start") for i in range(3)] == [0.0, 0.0, 1.0]


def test_distance_to_the_headline_counts_blocks_both_ways() -> None:
    blocks = _blocks("<p>Menu</p><h1>The Headline</h1><p>One.</p><p>Two.</p>")
    rows = block_features(blocks, "The Headline", None, [False] * 4)
    assert [_feature(rows, i, "headline_distance_blocks") for i in range(4)] == [-1, 0, 1, 2]
    rows = block_features(blocks, "Another title", None, [False] * 4)
    assert {_feature(rows, i, "headline_distance_blocks") for i in range(4)} == {-51.0}


def test_blocks_inside_itemprop_article_body_are_marked() -> None:
    blocks = _blocks("<div itemprop='articleBody'><p>Story.</p></div><p>Footer.</p>")
    rows = block_features(blocks, "", None, [False] * 2)
    assert [_feature(rows, i, "in_itemprop_body") for i in range(2)] == [1.0, 0.0]


def test_container_link_share_and_block_count() -> None:
    blocks = _blocks(
        "<ul><li><a href='/a'>Teaser one</a></li><li><a href='/b'>Teaser two</a></li></ul>"
        "<div><p>Plain story text here.</p></div>"
    )
    rows = block_features(blocks, "", None, [False] * 3)
    assert _feature(rows, 0, "parent_link_share") == 1.0
    assert (
        _feature(rows, 0, "parent_log_blocks")
        == _feature(rows, 1, "parent_log_blocks")
        > (_feature(rows, 2, "parent_log_blocks"))
    )
    assert _feature(rows, 2, "parent_link_share") == 0.0
