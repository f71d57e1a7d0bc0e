"""Request bodies about people (SPEC §8.4): a hand-opened ticket's requester."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from api.text import Line
from rules.notify.routes import check_webhook_url


class RequesterIn(BaseModel):
    """Who asked for a hand-opened ticket and how to reach them: exactly one of `email`,
    `webhook` (https://, or http:// to this machine). They get a rating link when it is
    resolved (SPEC §8.4)."""

    model_config = ConfigDict(extra="forbid")

    name: Line | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    webhook: str | None = Field(default=None, max_length=2000)

    @field_validator("webhook")
    @classmethod
    def _webhook(cls, value: str | None) -> str | None:
        if value is not None:
            check_webhook_url(value, insecure=False)  # ValueError: 422 naming the field
        return value

    @model_validator(mode="after")
    def _one_contact(self) -> RequesterIn:
        if (self.email is None) == (self.webhook is None):
            raise ValueError("give exactly one of email and webhook")
        return self
