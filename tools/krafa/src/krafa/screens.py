"""`krafa screenshots DIR`: every page of the debtor portal in two languages, on a phone and on a
desktop, as PNGs — from a fresh embedded stack with a demo debtor whose claims are in every
state (open, in an instalment plan, objected, paid by card). Look at them before calling a page
done."""

from __future__ import annotations

import asyncio
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from krafa.browser import DESKTOP, PHONE, launch
from krafa.portal_driver import Creditor, messages_to, one_time_code, reminder_link
from krafa.stack import Stack, StackConfig

VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
EMAIL = "gudrun@example.is"


async def _shoot(page: Any, out: Path, name: str) -> Path:
    path = out / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def take(stack: Stack, out: Path, languages: tuple[str, ...] = ("is", "en")) -> list[Path]:
    from playwright.async_api import async_playwright

    web = stack.url("web")
    creditor = await Creditor.create(stack)
    shots: list[Path] = []
    try:
        claims = [
            # 21 days overdue: the default policy's first notice (the collection warning) is due at
            # once, so its email carries the link within seconds instead of simulated weeks.
            await creditor.claim(
                1,
                email=EMAIL,
                name="Guðrún Jónsdóttir",
                amount=amount,
                language="is",
                phone="+3546151234",
                overdue_days=21,
            )
            for amount in (12_500, 30_000, 8_000, 15_000)
        ]
        link = await reminder_link(stack, EMAIL)
        async with async_playwright() as playwright:
            browser = await launch(playwright)
            state: Any = None
            combos = [(v, lang) for v in VIEWPORTS for lang in languages]
            for index, (viewport, lang) in enumerate(combos):
                context = await browser.new_context(viewport=VIEWPORTS[viewport], locale=lang)
                await context.add_cookies([{"name": "krafa_lang", "value": lang, "url": web}])
                page = await context.new_page()
                tag = f"{viewport}-{lang}"
                await page.goto(web + "/")
                shots.append(await _shoot(page, out, f"01-home-{tag}"))
                await page.goto(link)
                shots.append(await _shoot(page, out, f"02-link-{tag}"))
                seen = len(messages_to(stack, EMAIL))
                async with page.expect_navigation():
                    await page.locator("form[action^='/l/'] button[type=submit]").first.click()
                shots.append(await _shoot(page, out, f"03-code-{tag}"))
                if index == len(combos) - 1:
                    code = await one_time_code(stack, EMAIL, seen)
                    await page.locator("input[name=code]").fill(code)
                    async with page.expect_navigation():
                        await page.locator("form[action='/login/code'] button").click()
                    state = await context.storage_state()
                await context.close()
            # One of each state, made through the pages' own actions.
            context = await browser.new_context(viewport=PHONE, storage_state=state)
            page = await context.new_page()
            await _act(page, web, claims)
            await context.close()
            for viewport, lang in combos:
                context = await browser.new_context(viewport=VIEWPORTS[viewport], storage_state=state, locale=lang)
                await context.add_cookies([{"name": "krafa_lang", "value": lang, "url": web}])
                page = await context.new_page()
                tag = f"{viewport}-{lang}"
                pages = [
                    ("04-claims", "/claims"),
                    ("05-claim-open", f"/claims/{claims[1]['id']}"),
                    ("06-pay", f"/claims/{claims[1]['id']}/pay"),
                    ("07-object", f"/claims/{claims[1]['id']}/object"),
                    ("08-arrange", f"/claims/{claims[1]['id']}/arrange"),
                    ("09-claim-plan", f"/claims/{claims[0]['id']}?done=granted_instalments"),
                    ("10-claim-objected", f"/claims/{claims[2]['id']}?done=objected"),
                    ("11-claim-paid", f"/claims/{claims[3]['id']}"),
                    ("12-profile", "/profile"),
                    ("13-not-found", "/claims/00000000-0000-4000-8000-000000000000"),
                ]
                for name, path in pages:
                    await page.goto(web + path)
                    shots.append(await _shoot(page, out, f"{name}-{tag}"))
                await context.close()
            await browser.close()
    finally:
        await creditor.close()
    return shots


async def _act(page: Any, web: str, claims: list[dict[str, Any]]) -> None:
    await page.goto(f"{web}/claims/{claims[0]['id']}/arrange")
    await page.locator("#kind-instalments").check()
    await page.locator("#count").select_option("3")
    async with page.expect_navigation():
        await page.locator("form[action$='/arrange'] button[type=submit]").click()
    await page.goto(f"{web}/claims/{claims[2]['id']}/object")
    await page.locator("#reason").fill("Ég sagði upp áskriftinni í janúar.")
    async with page.expect_navigation():
        await page.locator("form[action$='/object'] button[type=submit]").click()
    await page.goto(f"{web}/claims/{claims[3]['id']}/pay")
    async with page.expect_navigation():
        await page.locator("form[action$='/pay'] button[type=submit]").click()
    await page.locator("#number").fill("4242 4242 4242 4242")
    await page.locator("#expiry").fill("12/30")
    await page.locator("#cvc").fill("123")
    async with page.expect_navigation(url="**/paid?checkout=*"):
        await page.locator("form button[type=submit]").click()


def run(out: Path) -> int:
    with tempfile.TemporaryDirectory(prefix="krafa-screens-") as tmp:
        config = StackConfig.with_free_ports(Path(tmp), sim_speed=86400 / 120, durable=False)
        config.sim_start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        stack = Stack(config)
        out.mkdir(parents=True, exist_ok=True)
        try:
            stack.start(on_progress=lambda m: print(f"  {m}", flush=True))
            shots = asyncio.run(take(stack, out))
        finally:
            stack.stop()
    print(f"{len(shots)} screenshots in {out}")
    return 0
