"""Signing organisers in through the login page, as a browser does."""

from __future__ import annotations

import httpx

from tests.support.journey import csrf_of

PASSWORD = "une phrase de passe assez longue"


async def login(
    browser: httpx.AsyncClient, email: str, password: str, code: str = ""
) -> httpx.Response:
    page = await browser.get("/organiser/login")
    form = {"_csrf_token": csrf_of(page), "email": email, "password": password, "code": code}
    return await browser.post("/organiser/login", data=form)
