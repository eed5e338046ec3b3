"""A real browser for people's pages: Debian's Chromium driven by Playwright (never a browser
that Playwright downloads), and axe-core, installed from npm by `make browser`, for the
accessibility check. Shared by the browser tests and `krafa screenshots`."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

CHROMIUM = os.environ.get("KRAFA_CHROMIUM", "/usr/bin/chromium")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
AXE_RELATIVE = Path(".cache/npm/node_modules/axe-core/axe.min.js")
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
# WCAG 2.1 A and AA, as axe tags them.
WCAG = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]


def axe_script() -> Path:
    """axe.min.js from the repository's `.cache` (`make browser`), wherever the run starts."""
    configured = os.environ.get("KRAFA_AXE")
    if configured:
        return Path(configured)
    for base in (Path.cwd(), *Path.cwd().parents, *Path(__file__).resolve().parents):
        candidate = base / AXE_RELATIVE
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(f"{AXE_RELATIVE} not found: run `make browser`")


async def launch(playwright: Any) -> Any:
    return await playwright.chromium.launch(executable_path=CHROMIUM, args=list(FLAGS), headless=True)


async def axe_violations(page: Any, impacts: tuple[str, ...] = ("serious", "critical")) -> list[dict[str, Any]]:
    """The page's WCAG 2.1 AA violations of these impacts, by axe-core run in the page."""
    if not await page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated through the DevTools protocol, so the page's strict CSP (no inline scripts)
        # stays on while axe runs.
        await page.evaluate(axe_script().read_text() + "\n;undefined")
    result = await page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})", WCAG
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
        if v["impact"] in impacts
    ]
