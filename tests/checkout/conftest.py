"""Helpers for the checkout tests: read the page the way a browser would (forms, their
hidden fields and buttons, links, assets) with the standard library's HTML parser."""

from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser
from typing import Any

import httpx


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str | None, str | None, str]] = field(default_factory=list)
    """(name, value, label) of each submit button."""


@dataclass
class Page:
    forms: list[Form] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    assets: list[str] = field(default_factory=list)
    inline_scripts: int = 0
    style_attributes: int = 0
    text: str = ""

    def form(self, action_suffix: str) -> Form:
        (found,) = [f for f in self.forms if f.action.endswith(action_suffix)]
        return found


class _Reader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.page = Page()
        self._button: list[Any] | None = None
        self._script_src: str | None = None
        self._texts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if "style" in a:
            self.page.style_attributes += 1
        if tag == "form":
            self.page.forms.append(
                Form(action=a.get("action") or "", method=(a.get("method") or "get").lower())
            )
        elif tag == "input" and self.page.forms:
            self.page.forms[-1].fields[a.get("name") or ""] = a.get("value") or ""
        elif tag == "button" and (a.get("type") or "submit") == "submit":
            self._button = [a.get("name"), a.get("value"), ""]
        elif tag == "a" and a.get("href"):
            self.page.links.append(a["href"] or "")
        elif tag == "link" and a.get("href"):
            self.page.assets.append(a["href"] or "")
        elif tag == "script":
            if a.get("src"):
                self.page.assets.append(a["src"] or "")
                self._script_src = a["src"]
            else:
                self._script_src = None
        elif tag in ("img", "iframe", "source", "video", "audio") and a.get("src"):
            self.page.assets.append(a["src"] or "")

    def handle_endtag(self, tag: str) -> None:
        if tag == "button" and self._button is not None and self.page.forms:
            name, value, label = self._button
            self.page.forms[-1].buttons.append((name, value, " ".join(label.split())))
            self._button = None
        elif tag == "script":
            self._script_src = None

    def handle_data(self, data: str) -> None:
        if self._button is not None:
            self._button[2] += data
        if self.lasttag == "script" and self._script_src is None and data.strip():
            self.page.inline_scripts += 1
        self._texts.append(data)

    def close(self) -> None:
        super().close()
        self.page.text = " ".join(" ".join(self._texts).split())


def read_page(html: str) -> Page:
    reader = _Reader()
    reader.feed(html)
    reader.close()
    return reader.page


async def open_page(http: httpx.AsyncClient, payment_id: str, **headers: str) -> tuple[httpx.Response, Page]:
    answer = await http.get(f"/checkout/{payment_id}", headers=headers)
    return answer, read_page(answer.text)


async def submit(
    http: httpx.AsyncClient, form: Form, *, button: str | None = None, **overrides: str
) -> httpx.Response:
    """Submit ``form`` as a browser would, pressing the button whose value is ``button``."""
    data = dict(form.fields)
    if button is not None:
        (name, value) = next((n, v) for n, v, _ in form.buttons if v == button)
        assert name is not None and value is not None
        data[name] = value
    data.update(overrides)
    return await http.post(form.action, data=data)
