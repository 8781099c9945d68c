"""Render helpers that compute something: branch lineage, plain text, relative times."""

from __future__ import annotations

from agent.views import CheckpointInfo
from ui.components.history import lineage
from ui.components.text import ago, plain, without_links


def info(checkpoint_id: str, parent_id: str | None, step: int) -> CheckpointInfo:
    """A checkpoint row with only what lineage reads filled in meaningfully."""
    return CheckpointInfo(checkpoint_id, parent_id, step, "loop", ("agent",), (), "", 1, 10,
                          False, False)


def test_lineage_follows_parents_from_the_head_across_a_fork():
    """After a fork, only the head's ancestors are the current branch; the rest is another."""
    # Newest first, as pages come: c5' (fork) and c5 (old) both have parent c4.
    page = [info("c6'", "c5'", 6), info("c5'", "c4", 5), info("c5", "c4", 5),
            info("c4", "c3", 4), info("c3", None, 3)]
    on_line, expected = lineage(page, "c6'")
    assert on_line == {"c6'", "c5'", "c4", "c3"}
    assert expected is None  # the root was reached
    on_line, expected = lineage(page[:3], "c6'")
    assert expected == "c4", "the next page continues the walk where this one stopped"


def test_plain_escapes_markdown_so_text_shows_as_typed():
    """A customer's *stars* and [links](x) are not formatting."""
    assert plain("a *b* [c](d) #e") == r"a \*b\* \[c\]\(d\) \#e"


def test_ago_reads_naturally():
    """Relative times in the thread list."""
    now = 1_000_000.0
    assert [ago(now - s, now) for s in (5, 120, 7200, 3 * 86400)] == \
        ["just now", "2 min ago", "2 h ago", "3 d ago"]


def test_plain_shows_addresses_as_code_which_never_autolinks():
    """Escaping cannot stop a bare URL, www. or e-mail autolink; a code span does."""
    assert plain("see https://x.example/a_b now") == r"see `https://x.example/a_b` now"
    assert plain("www.x.example a@x.example") == "`www.x.example` `a@x.example`"


def test_without_links_keeps_formatting_but_no_link_image_or_html():
    """The assistant's bold and lists stay; brackets, angle brackets and addresses go inert."""
    reply = "**Done.** Ticket: ![p](http://p.example) [l](x) <b>\n- one"
    assert without_links(reply) == \
        r"**Done.** Ticket: `![p](http://p.example)` \[l\](x) \<b\>" + "\n- one"


def test_backticks_cannot_break_an_address_out_of_its_code_span():
    """A fence longer than any backtick run inside; backticks elsewhere are escaped."""
    assert without_links("` https://x.example `") == r"\` `https://x.example` \`"
    assert without_links("a``https://x.example`") == "``` a``https://x.example` ```"
