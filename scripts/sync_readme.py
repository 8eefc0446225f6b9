"""Rewrite README.md's generated blocks (usage, metric definitions) from the registries.

Run after changing the grammar or a definition: `.venv/bin/python scripts/sync_readme.py`.
tests check that README.md holds exactly this text.
"""

from __future__ import annotations

import re
from pathlib import Path

from bot.help_text import usage
from metrics.glossary import explain

README = Path(__file__).parents[1] / "README.md"


def main() -> None:
    text = README.read_text()
    for name, body in (("usage", usage()), ("explain", explain())):
        text = re.sub(
            rf"(<!-- {name}:start -->\n```text\n).*?(\n```\n<!-- {name}:end -->)",
            lambda m, body=body: m.group(1) + body + m.group(2),
            text,
            flags=re.DOTALL,
        )
    README.write_text(text)


if __name__ == "__main__":
    main()
