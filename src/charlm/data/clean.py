"""Cleaning a text before it is cut into lines: regular expressions applied in order.

The course's third practical cleans the French legal codes with `clean_text.py` (headers,
titles, HTML, article numbers, list numbering, blank lines); `conf/data/clean/course.yaml`
holds its rules as config. Each rule is applied to the whole text, as there, so a pattern
may span lines (the `---` header does).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from charlm.errors import CharlmError

FLAGS = {"DOTALL": re.DOTALL, "MULTILINE": re.MULTILINE, "IGNORECASE": re.IGNORECASE}


class CleanError(CharlmError):
    """A cleaning rule is malformed."""


@dataclass(frozen=True)
class CleanRule:
    """`pattern` replaced by `replace` everywhere in the text."""

    name: str
    pattern: re.Pattern[str]
    replace: str = ""

    def apply(self, text: str) -> tuple[str, list[str]]:
        """The text after this rule, and what it matched, in order."""
        matched: list[str] = []

        def record(m: re.Match[str]) -> str:
            matched.append(m.group(0))
            return m.expand(self.replace)

        return self.pattern.sub(record, text), matched


def clean_rules(spec: Mapping[str, Any] | Sequence[Mapping[str, Any]] | None) -> list[CleanRule]:
    """Rules from config: a list of {name, pattern, replace, flags}, or {rules: [...]}."""
    if spec is None:
        return []
    if isinstance(spec, Mapping):
        spec = spec.get("rules") or []
    if isinstance(spec, str | bytes) or not isinstance(spec, Sequence):
        raise CleanError(
            f"data.clean rules: {spec!r} is not a list of rules; give rules: [{{pattern: REGEX, "
            "replace: TEXT, flags: [DOTALL]}, ...]"
        )
    rules = []
    for i, item in enumerate(spec):
        if not isinstance(item, Mapping) or not isinstance(item.get("pattern"), str):
            raise CleanError(
                f"data.clean rule {i + 1}: {item!r} is not a rule; give "
                "{pattern: REGEX, replace: TEXT, flags: [DOTALL]}"
            )
        flags = 0
        given = item.get("flags") or []
        for flag in [given] if isinstance(given, str) else given:  # flags: DOTALL, one flag
            if flag not in FLAGS:
                raise CleanError(
                    f"data.clean rule {item.get('name', i + 1)}: unknown flag {flag!r}; "
                    f"choose among {sorted(FLAGS)}"
                )
            flags |= FLAGS[flag]
        try:
            pattern = re.compile(item["pattern"], flags)
        except re.error as err:
            raise CleanError(
                f"data.clean rule {item.get('name', i + 1)}: {item['pattern']!r} is not a "
                f"regular expression ({err})"
            ) from None
        rule = CleanRule(str(item.get("name", f"rule{i + 1}")), pattern,
                         str(item.get("replace") or ""))  # fmt: skip
        _check_replacement(rule)
        rules.append(rule)
    return rules


def _check_replacement(rule: CleanRule) -> None:
    """Refuse a replacement naming a group its pattern lacks (`\\2`, `\\g<name>`), before any
    text is cleaned: `re` would say so only at the first match."""
    for ref in re.findall(r"\\(?:g<([^>]*)>|(\d{1,2}))", rule.replace):
        name = ref[0] or ref[1]
        known = (
            int(name) <= rule.pattern.groups if name.isdigit() else name in rule.pattern.groupindex
        )
        if not known:
            raise CleanError(
                f"data.clean rule {rule.name}: replace {rule.replace!r} names group {name!r}, "
                f"which the pattern {rule.pattern.pattern!r} does not have"
            )


def clean_text(text: str, rules: Iterable[CleanRule]) -> str:
    """`text` after every rule, in order."""
    for rule in rules:
        text = rule.apply(text)[0]
    return text


def clean_report(text: str, rules: Iterable[CleanRule]) -> tuple[str, list[tuple[str, list[str]]]]:
    """`clean_text`, and each rule's name with what it matched (the dry run's report)."""
    report = []
    for rule in rules:
        text, matched = rule.apply(text)
        report.append((rule.name, matched))
    return text, report


def text_lines(text: str) -> list[str]:
    """The non-empty lines of `text`, their surrounding spaces removed: one sequence each."""
    return [s for s in (line.strip() for line in text.splitlines()) if s]
