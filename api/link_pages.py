"""The small pages a link from a notification opens (acknowledge, rate), in Chinese and
English side by side: no script, no external host, escaped text only, never framed, and the
token kept out of Referer headers."""

from __future__ import annotations

from html import escape

from fastapi.responses import HTMLResponse

HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",  # the path holds the token
    "Cache-Control": "no-store",
}
# key -> (English, 繁體中文); {placeholders} are filled with escaped text
TEXT: dict[str, tuple[str, str]] = {
    "ack_title": ("Acknowledge", "確認警報"),
    "ack_ask": ("Acknowledge {what} as {who}?", "以 {who} 的身分確認 {what}？"),
    "ack_button": ("Acknowledge", "確認"),
    "ack_done": ("Acknowledged {what} as {who}.", "已以 {who} 的身分確認 {what}。"),
    "ack_conflict": ("Nothing to acknowledge: {what} is {state}.",
                     "無需確認：{what} 目前為 {state}。"),
    "rate_title": ("Rate our service", "服務滿意度"),
    "rate_ask": ("How satisfied are you with how {what} was handled? 1 = poor, 5 = excellent.",
                 "您對 {what} 的處理滿意嗎？1 = 很差，5 = 很好。"),
    "rate_comment": ("Comment (optional)", "意見（選填）"),
    "rate_button": ("Send", "送出"),
    "rate_done": ("Thank you: your rating of {what} is recorded.",
                  "謝謝您：您對 {what} 的評分已記錄。"),
    "rate_bad": ("Choose a rating from 1 to 5.", "請選擇 1 至 5 的評分。"),
    "tampered": ("This link is not valid (it was changed or is not ours). Nothing was done.",
                 "此連結無效（已被更改或非本系統發出），未執行任何動作。"),
    "expired": ("This link has expired. Nothing was done.", "此連結已過期，未執行任何動作。"),
    "used": ("This link has already been used. Nothing was done.",
             "此連結已使用過，未執行任何動作。"),
    "malformed": ("This is not a link of ours. Nothing was done.",
                  "這不是本系統的連結，未執行任何動作。"),
    "gone": ("What this link was for no longer exists. Nothing was done.",
             "此連結所指的事件已不存在，未執行任何動作。"),
}


def say(key: str, **values: str) -> str:
    """Both languages of one sentence as HTML, placeholders escaped."""
    safe = {k: escape(v) for k, v in values.items()}
    en, zh = TEXT[key]
    return (f'<p lang="en">{en.format(**safe)}</p>'
            f'<p lang="zh-Hant">{zh.format(**safe)}</p>')


def page(title_key: str, body: str, status: int = 200) -> HTMLResponse:
    """A whole page around `body` (already HTML)."""
    en, zh = TEXT[title_key]
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Sitewatch - {en} / {zh}</title>"
        "<style>body{font-family:sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}"
        "button{font-size:1.2rem;padding:.5rem 1.5rem}</style></head>"
        f'<body><main><h1>{en} / <span lang="zh-Hant">{zh}</span></h1>{body}</main></body></html>'
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def button(key: str) -> str:
    """A submit button labelled in both languages."""
    en, zh = TEXT[key]
    return f'<button type="submit">{en} / {zh}</button>'
