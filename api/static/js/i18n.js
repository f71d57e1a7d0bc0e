// Languages: the sentences live in message catalogs (/static/i18n/*.json), keys live in code.
// English, Traditional Chinese and Simplified Chinese; chosen from the browser, switchable, and
// remembered in localStorage (a preference, not a secret). The built-in rule pack's titles,
// descriptions and runbooks come from rules.<locale>.json, keyed by rule id; the API's English
// text is the fallback for a rule no catalog knows yet.
export const LOCALES = ["en", "zh-Hant", "zh-Hans"];
const LOCALE_KEY = "sitewatch.locale";

let locale = "en";
let messages = {}; // the chosen locale's catalog
let english = {}; // the fallback
let rules = {}; // rule id -> {title, description, runbook, ticket_title}

/** The locale the browser asks for: zh-TW/zh-HK/zh-MO/zh-Hant -> zh-Hant, other zh -> zh-Hans. */
export function browserLocale(languages) {
  for (const tag of languages || []) {
    const lower = tag.toLowerCase();
    if (lower.startsWith("zh")) {
      return /hant|-tw|-hk|-mo/.test(lower) ? "zh-Hant" : "zh-Hans";
    }
    if (lower.startsWith("en")) return "en";
  }
  return "en";
}

export function currentLocale() {
  return locale;
}

async function fetchJson(name) {
  const res = await fetch(`/static/i18n/${name}.json`, { cache: "no-cache" });
  return res.ok ? res.json() : {};
}

/** Load the chosen (or remembered, or browser's) locale's catalogs and label the page. */
export async function setLocale(wanted) {
  const remembered = localStorage.getItem(LOCALE_KEY);
  const next = LOCALES.includes(wanted) ? wanted
    : LOCALES.includes(remembered) ? remembered : browserLocale(navigator.languages);
  if (wanted) localStorage.setItem(LOCALE_KEY, next);
  const [en, mine, ruleText] = await Promise.all([
    Object.keys(english).length ? english : fetchJson("en"),
    next === "en" ? null : fetchJson(next),
    next === "en" ? {} : fetchJson(`rules.${next}`),
  ]);
  english = en;
  messages = mine || en;
  rules = ruleText;
  locale = next;
  document.documentElement.lang = next;
  translatePage(document);
}

/** The message for `key` in the current locale, with {name} placeholders filled. */
export function t(key, vars) {
  let text = messages[key] ?? english[key] ?? key;
  for (const [k, v] of Object.entries(vars || {})) text = text.replaceAll(`{${k}}`, String(v));
  return text;
}

/** Label static markup: data-i18n (text), data-i18n-label (aria-label), -placeholder, -title. */
export function translatePage(root) {
  for (const node of root.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  for (const node of root.querySelectorAll("[data-i18n-label]")) {
    node.setAttribute("aria-label", t(node.dataset.i18nLabel));
  }
  for (const node of root.querySelectorAll("[data-i18n-placeholder]")) {
    node.setAttribute("placeholder", t(node.dataset.i18nPlaceholder));
  }
}

/** An incident's title, description or runbook in the current locale (the API's as fallback). */
export function ruleText(incident, field) {
  const entry = incident.rule_id ? rules[incident.rule_id] : null;
  if (!entry) return incident[field];
  if (field === "title" && incident.kind === "ticket" && entry.ticket_title) {
    return entry.ticket_title; // the linked ticket an alert opens has its own title
  }
  return entry[field] || incident[field];
}

/** A word from the API's vocabulary (state, severity, kind...) in the current locale. */
export function word(group, value) {
  if (value === null || value === undefined) return "—";
  const key = `${group}.${value}`;
  const text = t(key);
  return text === key ? String(value).replace("_", " ") : text;
}
