"""The console's message catalogs: every language has every message and every built-in rule."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
import yaml

from api.endpoints.ui import STATIC_DIR

I18N = STATIC_DIR / "i18n"
LOCALES = ("en", "zh-Hant", "zh-Hans")
TRANSLATED = ("zh-Hant", "zh-Hans")
HAN = re.compile(r"[\u4e00-\u9fff]")


def _catalog(name: str) -> dict[str, str]:
    data: dict[str, str] = json.loads((I18N / f"{name}.json").read_text("utf-8"))
    return data


def _pack_rules() -> list[dict[str, object]]:
    text = resources.files("rules.engine").joinpath("pack.yaml").read_text("utf-8")
    rules: list[dict[str, object]] = yaml.safe_load(text)["rules"]
    return rules


def test_every_language_has_exactly_the_english_messages() -> None:
    english = set(_catalog("en"))
    for locale in TRANSLATED:
        assert set(_catalog(locale)) == english, locale


def test_every_message_key_the_scripts_use_is_in_the_english_catalog() -> None:
    english = _catalog("en")
    scripts = [STATIC_DIR / "app.js", *sorted((STATIC_DIR / "js").glob("*.js"))]
    used = set()
    for path in scripts:
        text = path.read_text("utf-8")
        used |= set(re.findall(r"\bt\(\"([a-z_]+\.[a-zA-Z0-9_.-]+)\"", text))
        used |= set(re.findall(r"data-i18n(?:-label)?=\"([a-z_]+\.[a-z0-9_.-]+)\"", text))
    used |= set(re.findall(r"data-i18n(?:-label)?=\"([a-z_.]+)\"",
                           (STATIC_DIR / "index.html").read_text("utf-8")))
    assert used, "no message keys found: the pattern is wrong"
    assert sorted(used - set(english)) == []


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_built_in_rule_has_a_chinese_title_description_and_runbook(locale: str) -> None:
    catalog = _catalog(f"rules.{locale}")
    for rule in _pack_rules():
        rid = str(rule["id"])
        assert rid in catalog, f"rule {rid} has no {locale} translation"
        entry = catalog[rid]
        for part in ("title", "description"):
            assert HAN.search(entry.get(part, "")), f"{rid}: {part} is not translated ({locale})"
        raises = rule["raises"]
        assert isinstance(raises, dict)
        if raises.get("runbook"):
            assert HAN.search(entry.get("runbook", "")), f"{rid}: runbook not translated ({locale})"
            steps = len(re.findall(r"(?m)^\s*\d+\.", str(raises["runbook"])))
            mine = len(re.findall(r"(?m)^\s*\d+\.", entry["runbook"]))
            assert mine == steps, f"{rid}: {mine} runbook steps in {locale}, {steps} in English"
        linked = raises.get("linked_ticket")
        if isinstance(linked, dict) and linked.get("title"):
            assert HAN.search(entry.get("ticket_title", "")), f"{rid}: linked ticket title"


@pytest.mark.parametrize("locale", TRANSLATED)
def test_every_built_in_checklist_is_translated_item_for_item(locale: str) -> None:
    catalog = _catalog(f"rules.{locale}")
    with_lists = [r for r in _pack_rules() if r.get("checklist")]
    assert with_lists, "the built-in pack has no checklist: the test checks nothing"
    for rule in with_lists:
        rid, english = str(rule["id"]), rule["checklist"]
        assert isinstance(english, list)
        mine = catalog[rid].get("checklist")
        assert isinstance(mine, list) and len(mine) == len(english), (
            f"{rid}: {locale} checklist has not the {len(english)} items of the English")
        assert all(HAN.search(str(item)) for item in mine), f"{rid}: checklist ({locale})"


def test_traditional_and_simplified_catalogs_differ_where_the_scripts_differ() -> None:
    hant, hans = _catalog("rules.zh-Hant"), _catalog("rules.zh-Hans")
    assert hant["fire_alarm"]["title"] == "火警警報"
    assert hans["fire_alarm"]["title"] == "火警警报"
    assert _catalog("zh-Hant")["nav.devices"] != _catalog("zh-Hans")["nav.devices"]
