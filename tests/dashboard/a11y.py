"""Our own accessibility checks, run in Chromium on a rendered page: labels, headings,
landmarks, names of controls, contrast (WCAG 2.2 AA) and a visible keyboard focus.

``problems(page)`` answers a list of readable problems; an empty list passes.
"""

from __future__ import annotations

from typing import Any

_CHECKS = r"""
() => {
  const problems = [];
  const visible = (el) => {
    const r = el.getBoundingClientRect(), s = getComputedStyle(el);
    return r.width > 1 && r.height > 1 && s.visibility !== "hidden" && s.display !== "none";
  };
  const describe = (el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.getAttribute("name") ? "[name=" + el.getAttribute("name") + "]" : "");
  const nameOf = (el) => {
    if (el.getAttribute("aria-label")) return el.getAttribute("aria-label").trim();
    const by = el.getAttribute("aria-labelledby");
    if (by) return by.split(/\s+/).map((id) => (document.getElementById(id) || {}).textContent || "").join(" ").trim();
    if (el.labels && el.labels.length) return Array.from(el.labels).map((l) => l.textContent).join(" ").trim();
    return (el.textContent || el.value || "").trim();
  };

  // 1. every form control has a label
  for (const el of document.querySelectorAll("input, select, textarea")) {
    if (el.type === "hidden") continue;
    if (!nameOf(el)) problems.push("control without a label: " + describe(el));
  }
  // 2. every button and link has a name
  for (const el of document.querySelectorAll("button, a[href]")) {
    if (!visible(el) && !el.matches(".skip")) continue;
    if (!nameOf(el)) problems.push("control without a name: " + describe(el));
  }
  // 3. one h1; headings do not skip a level
  const headings = Array.from(document.querySelectorAll("h1, h2, h3, h4, h5, h6"));
  if (headings.filter((h) => h.tagName === "H1").length !== 1) problems.push("the page needs exactly one h1");
  let last = 0;
  for (const h of headings) {
    const level = Number(h.tagName[1]);
    if (level > last + 1) problems.push("heading skips a level: " + h.tagName + " " + h.textContent.trim());
    last = level;
  }
  // 4. landmarks
  if (document.querySelectorAll("main").length !== 1) problems.push("the page needs one main landmark");
  if (!document.documentElement.lang) problems.push("html has no lang");
  if (!document.title.trim()) problems.push("the page has no title");
  for (const el of document.querySelectorAll("[role=img]")) {
    if (!nameOf(el)) problems.push("image without a text alternative: " + describe(el));
  }
  // 5. contrast of every visible text
  const parse = (c) => { const m = c.match(/[\d.]+/g) || ["0", "0", "0", "0"]; return m.map(Number).concat(m.length < 4 ? [1] : []); };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4); };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
  };
  const background = (el) => {
    for (let node = el; node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c[3] > 0.5) return c;
    }
    return [255, 255, 255, 1];
  };
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const text = walker.currentNode;
    const el = text.parentElement;
    if (!text.textContent.trim() || !el || seen.has(el) || !visible(el)) continue;
    seen.add(el);
    const s = getComputedStyle(el);
    if (s.clip === "rect(0px, 0px, 0px, 0px)") continue;
    const ratio = (a, b) => { const [x, y] = [lum(a), lum(b)].sort((p, q) => q - p); return (x + 0.05) / (y + 0.05); };
    const fg = parse(s.color), bg = background(el);
    const size = parseFloat(s.fontSize), bold = Number(s.fontWeight) >= 700;
    const large = size >= 24 || (bold && size >= 18.66);
    const r = ratio(fg, bg);
    if (r < (large ? 3 : 4.5)) problems.push("contrast " + r.toFixed(2) + ":1 for '" + text.textContent.trim().slice(0, 40) + "' (" + s.color + " on rgb(" + bg.slice(0, 3) + "))");
  }
  return problems;
}
"""

_FOCUS = r"""
() => {
  const el = document.activeElement;
  if (!el || el === document.body) return "nothing has focus";
  const s = getComputedStyle(el);
  const ring = s.outlineStyle !== "none" && parseFloat(s.outlineWidth) >= 2;
  return ring ? "" : "no visible focus on " + el.tagName.toLowerCase() + " " + (el.textContent || "").trim().slice(0, 30);
}
"""


async def problems(page: Any, *, tabs: int = 4) -> list[str]:
    found: list[str] = list(await page.evaluate(_CHECKS))
    await page.locator("body").click(position={"x": 1, "y": 1})
    tabbable: int = await page.evaluate(
        "() => Array.from(document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea'))"
        ".filter((el) => !el.disabled && el.getClientRects().length).length"
    )
    for _ in range(min(tabs, tabbable)):
        await page.keyboard.press("Tab")
        focus: str = await page.evaluate(_FOCUS)
        if focus:
            found.append(focus)
    return found
