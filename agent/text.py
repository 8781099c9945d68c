"""Text at the edges: refuse what cannot be stored, and defuse what could steer a terminal."""

from __future__ import annotations

import re

from agent.errors import InvalidInput

# Lone surrogates (how Python carries bytes that were not UTF-8), C0 controls other than tab and
# newline, DEL and C1 controls. Databases refuse some of these (PostgreSQL: NUL) and terminals
# obey others, so they are refused on the way in.
_NOT_STORABLE = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")

# Terminal control sequences, whole: CSI (ESC [ or C1 CSI), terminated strings (OSC, DCS, SOS,
# PM, APC: ESC ] P X ^ _ or their C1 forms, ended by BEL or ST) and other two-byte escapes.
_SEQUENCE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b[\]PX^_]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)"
    r"|\x1b[ -/]*[0-~]"
)
# Whatever control is left (a lone ESC, BEL, CR, NUL, ...) and lone surrogates.
_LEFTOVER = re.compile(r"[\ud800-\udfff\x00-\x08\x0b-\x1f\x7f-\x9f]")
REPLACEMENT = "\ufffd"


def storable_text(text: str, what: str) -> str:
    """`text` with CRLF made LF; InvalidInput naming `what` if it holds bad bytes or controls."""
    text = text.replace("\r\n", "\n")
    found = _NOT_STORABLE.search(text)
    if found is None:
        return text
    char, position = found.group(), found.start() + 1
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8, kept by surrogateescape
        raise InvalidInput(f"{what} is not valid text (invalid UTF-8 at character {position}: "
                           f"byte 0x{code - 0xDC00:02X}); send it encoded as UTF-8")
    if 0xD800 <= code <= 0xDFFF:
        raise InvalidInput(f"{what} is not valid text (a lone surrogate U+{code:04X} at "
                           f"character {position}); send it as valid Unicode")
    raise InvalidInput(f"{what} contains a control character (U+{code:04X}) at character "
                       f"{position}; only tab and newline are allowed")


def for_terminal(text: str) -> str:
    """`text` safe to print: escape sequences removed, other controls shown as U+FFFD.

    Tab and newline stay, and so does every other Unicode character.
    """
    text = _SEQUENCE.sub("", str(text).replace("\r\n", "\n"))
    return _LEFTOVER.sub(REPLACEMENT, text)
