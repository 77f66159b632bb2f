"""Log-derived text made inert for each place a message is shown.

Everything in a log line is chosen by someone else: a user name can be
`<!channel>`, `<http://evil|click here>`, `@here`, `<b>x</b>`, carry CR/LF or
terminal escapes, or be 10 KB long. `clean` makes a value safe in every format
at once: control characters become visible (`\\x0d`), the length is capped, and
what chat services turn into a mention or a link (`@name`, `scheme://`,
`www.`), and what mail programs decode in a header (an RFC 2047 encoded word,
`=?utf-8?b?...?=`), gets an invisible WORD JOINER (U+2060) after its first
character, so it reads the same but no longer matches. Each format then escapes its own
syntax: `html` for e-mail's HTML part, `markdown` for services that render
plain text as Markdown (Mattermost, Discord, ...). Slack's `<`, `>` and `&`
are escaped by Apprise's own text mode.
"""

from __future__ import annotations

import html as _html
import re
from typing import Any

from authwatch.output import printable

WORD_JOINER = "\u2060"
FIELD_LIMIT = 200  # characters of one value shown in a message

_LINKISH = re.compile(r"@|:(?=//)|(?i:www)(?=\.)|=(?=\?)")
_MARKDOWN = re.compile(r"([\\`*_~\[\]()<>|#&!])")


def clean(value: Any, limit: int = FIELD_LIMIT) -> str:
    """One line of untrusted text, inert in every format a message takes."""
    return _LINKISH.sub(lambda m: m.group() + WORD_JOINER, printable(value, limit))


def html(text: str) -> str:
    return _html.escape(text, quote=True)


def markdown(text: str) -> str:
    """Backslash-escape what CommonMark (and Mattermost, Discord) would
    render as markup, a link or an HTML tag."""
    return _MARKDOWN.sub(r"\\\1", text)
