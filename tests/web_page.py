"""What the page tests (test_web_browser.py, test_web_modes.py) ask of the page: its settled answer, what a
person sees, and the reading requests it sends."""

from __future__ import annotations

from playwright.sync_api import Page, Request


def settled(page: Page) -> dict | None:
    """Wait until no reading is in flight or queued, then return the last answer (None when blank)."""
    page.wait_for_function("() => window.inkdigit.idle", timeout=15_000)
    page.wait_for_timeout(50)  # let the answer render
    return page.evaluate("() => window.inkdigit.lastAnswer")


def shown(page: Page) -> tuple[str, str]:
    """What a person sees: the big answer and the line under it."""
    return page.locator("#big").inner_text(), page.locator("#verdict").inner_text()


def record_reads(page: Page) -> list[Request]:
    """Every reading request the page sends from now on (a list that fills as it draws)."""
    reads: list[Request] = []
    page.on("request", lambda r: reads.append(r) if r.method == "POST" and "/api/predict" in r.url else None)
    return reads
