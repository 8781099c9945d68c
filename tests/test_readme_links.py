"""The README's links and screenshots resolve, and every page of the web UI has a screenshot.

Issue 9: "Screenshots of each page (customer and supervisor) in docs/, referenced from the
README." The pages are read from ui/app.py's `st.Page(...)` calls; the sign-in page is the only
one without a screenshot of its own.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
LINK = re.compile(r"!?\[(?P<text>[^\]]*)\]\((?P<target>[^)\s]+)\)")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WITHOUT_SCREENSHOT = {"Sign in"}


def local_links(path: Path) -> list[tuple[str, str]]:
    """(text, target) of every Markdown link and image to a file of the repository."""
    return [(m["text"], m["target"]) for m in LINK.finditer(path.read_text(encoding="utf-8"))
            if not re.match(r"^[a-z]+:|^#", m["target"])]


def test_every_local_link_of_the_readme_and_docs_resolves() -> None:
    """Each relative link or image in README.md and docs/*.md names a file that exists."""
    checked = 0
    for doc in [README, *sorted((ROOT / "docs").glob("*.md"))]:
        for _text, target in local_links(doc):
            file = (doc.parent / unquote(target.split("#")[0])).resolve()
            assert file.exists(), f"{doc.relative_to(ROOT)} links to missing {target}"
            checked += 1
    assert checked, "no local links found: the pattern no longer matches"


def test_readme_screenshots_are_real_pictures_in_docs() -> None:
    """Every image of the README is a PNG under docs/screenshots/ of a real size."""
    images = [target for text, target in local_links(README)
              if f"![{text}]({target})" in README.read_text(encoding="utf-8")]
    assert images
    for target in images:
        assert target.startswith("docs/screenshots/"), target
        data = (ROOT / target).read_bytes()
        assert data.startswith(PNG_MAGIC) and len(data) > 20_000, target


def test_every_page_of_the_app_has_a_screenshot_in_the_readme() -> None:
    """Each page of ui/app.py but sign-in is pictured: an image whose caption starts with the
    page's title."""
    app = (ROOT / "ui" / "app.py").read_text(encoding="utf-8")
    titles = set(re.findall(r'st\.Page\([^)]*title="([^"]+)"', app)) - WITHOUT_SCREENSHOT
    assert {"Chat", "Approvals", "Conversations", "Audit", "History"} <= titles, titles
    captions = [text for text, target in local_links(README) if target.endswith(".png")]
    missing = [title for title in sorted(titles)
               if not any(caption.startswith(title) for caption in captions)]
    assert not missing, f"pages with no screenshot in the README: {missing}"
