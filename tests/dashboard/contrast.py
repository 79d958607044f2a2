"""WCAG 2 contrast of every visible text on the page, measured in the browser from computed styles."""

from __future__ import annotations

from playwright.async_api import Page

# Text below 4.5:1 (3:1 when large) against the first opaque background behind it.
LOW_CONTRAST = """() => {
  const parse = (color) => {
    const match = color.match(/rgba?\\(([^)]+)\\)/);
    if (!match) return null;
    const [r, g, b, a = 1] = match[1].split(",").map(Number);
    return { r, g, b, a };
  };
  const channel = (value) => {
    const c = value / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  };
  const luminance = ({ r, g, b }) => 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b);
  const backgroundOf = (element) => {
    for (let node = element; node; node = node.parentElement) {
      const color = parse(getComputedStyle(node).backgroundColor);
      if (color && color.a > 0.5) return color;
    }
    return { r: 255, g: 255, b: 255, a: 1 };
  };
  const low = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const element = walker.currentNode.parentElement;
    const text = walker.currentNode.textContent.trim();
    if (!text || !element || !element.checkVisibility()) continue;
    const style = getComputedStyle(element);
    const pair = [luminance(parse(style.color)), luminance(backgroundOf(element))];
    const [light, dark] = pair.sort((a, b) => b - a);
    const ratio = (light + 0.05) / (dark + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    if (ratio < (large ? 3 : 4.5)) {
      low.push(`${ratio.toFixed(2)}:1 <${element.tagName}> ${text.slice(0, 40)}`);
    }
  }
  return low;
}"""


async def low_contrast(page: Page) -> list[str]:
    found: list[str] = await page.evaluate(LOW_CONTRAST)
    return found
