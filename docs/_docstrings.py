"""How the API reference reads the package's docstrings (a griffe extension, named in mkdocs.yml).

The docstrings are written for `help()` and doctest as well as for the site: they use Sphinx's
roles (:class:`Node`) and doctest sessions (>>> lines). Markdown would print the roles as they are
and read the >>> lines as nested quotes, so each role becomes inline code, each session a fenced
`pycon` block, and rST's `::` a colon, before mkdocstrings renders them.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

ROLE = re.compile(r":(?:class|func|meth|attr|exc|mod|data|obj):`~?([^`]+)`")


def doctest_fenced(text: str) -> str:
    """`text` with each doctest session (from a >>> line to the next blank line) fenced."""
    out: list[str] = []
    inside = False
    for line in text.splitlines():
        if not inside and line.lstrip().startswith(">>>"):
            out.append("```pycon")
            inside = True
        elif inside and not line.strip():
            out.append("```")
            inside = False
        out.append(line)
    if inside:
        out.append("```")
    return "\n".join(out)


def markdown_of(text: str) -> str:
    """`text` in Markdown: roles as code, sessions fenced, an rST `::` before a block as `:`."""
    text = re.sub(r"^::\n", "", text, flags=re.MULTILINE)
    text = re.sub(r"::$", ":", text, flags=re.MULTILINE)
    return doctest_fenced(ROLE.sub(r"`\1`", text))


class SphinxRolesAndDoctests(griffe.Extension):
    def on_instance(self, *, obj: griffe.Object, **_: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = markdown_of(obj.docstring.value)
