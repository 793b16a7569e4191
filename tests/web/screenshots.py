"""Screenshots of the console's main screens for the README: ``python -m tests.web.screenshots [DIR]``.

Starts a real `deepfort serve` (keys on, the embedded model and its R1-style twin), drives Debian's
Chromium, writes PNGs into DIR (default docs/screenshots). Needs `make web` and `make tools`, and a CJK
font for the Chinese screens (Debian: fonts-wqy-microhei or fonts-noto-cjk). The answers are the
embedded 135M model's own, nonsense included.
"""

from __future__ import annotations

import sys
import tempfile
import threading
from pathlib import Path

import httpx
from playwright.sync_api import Page, expect, sync_playwright

from tests.conftest import start_server, stop_server
from tests.web.conftest import CHROMIUM, CONFIG, TIMEOUT_MS, create_key

QUESTIONS = ["解释一下快速排序的思路", "Write a haiku about autumn", "北京有哪些著名的景点？"]


def seed(base_url: str, key: str) -> None:
    """A few stored conversations and finished requests, so the history and the status panel show life."""
    headers = {"authorization": f"Bearer {key}"}
    for question in QUESTIONS:
        body = {
            "model": "smollm2-135m",
            "messages": [{"role": "user", "content": question}],
            "max_tokens": 24,
            "conversation_id": "new",
        }
        httpx.post(f"{base_url}/v1/chat/completions", json=body, headers=headers, timeout=120)


def busy(base_url: str, key: str) -> None:
    """Two long answers at once, for the status panel to show running requests and tokens/s."""
    body = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Tell a very long story."}]}
    body |= {"max_tokens": 600, "temperature": 0}
    threads = [
        threading.Thread(
            target=httpx.post,
            args=(f"{base_url}/v1/chat/completions",),
            kwargs={"json": body, "headers": {"authorization": f"Bearer {key}"}, "timeout": 120},
        )
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def ask(page: Page, question: str, *, model: str, max_tokens: int, budget: str) -> None:
    page.get_by_label("模型").select_option(model)
    page.get_by_text("参数", exact=True).click()
    page.get_by_label("温度").fill("0")
    page.get_by_label("最大 token 数").fill(str(max_tokens))
    page.get_by_label("思考预算（token）").fill(budget)
    page.get_by_text("参数", exact=True).click()
    page.get_by_label("消息").fill(question)
    page.get_by_label("消息").press("Enter")


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    expect.set_options(timeout=TIMEOUT_MS)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        admin = create_key(tmp / "data", "ops-admin", "admin")
        create_key(tmp / "data", "analyst", "user")
        server = start_server(CONFIG, tmp)
        try:
            seed(server.base_url, admin)
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=str(CHROMIUM))
                context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 800})
                context.set_default_timeout(TIMEOUT_MS)
                page = context.new_page()
                page.goto(server.base_url)
                expect(page.get_by_label("API 密钥")).to_be_visible()
                page.screenshot(path=out / "login.png")

                page.get_by_label("API 密钥").fill(admin)
                page.get_by_role("button", name="登录").click()
                ask(page, "为什么天空是蓝色的？", model="smol-r1", max_tokens=200, budget="120")
                expect(page.locator("details.reasoning-live")).to_be_visible()
                page.wait_for_timeout(600)
                page.screenshot(path=out / "chat-thinking.png")
                answer = page.locator("article.message-answer").last
                expect(answer).to_have_attribute("aria-busy", "false")
                answer.get_by_role("button", name="回答得好").click()
                expect(answer.get_by_text("感谢反馈，已记录。")).to_be_visible()
                page.screenshot(path=out / "chat.png")

                page.get_by_role("link", name="管理").click()
                load = threading.Thread(target=busy, args=(server.base_url, admin))
                load.start()
                page.wait_for_timeout(4500)  # two polls and more: figures over a window, requests running
                page.screenshot(path=out / "admin-status.png")
                load.join()
                page.get_by_role("tab", name="API 密钥").click()
                page.get_by_label("名称").fill("customer-service")
                page.get_by_label("请求频率").fill("60/min")
                page.get_by_label("token 配额").fill("200000/day")
                page.get_by_role("button", name="创建密钥").click()
                expect(page.get_by_test_id("new-key")).to_be_visible()
                page.screenshot(path=out / "admin-keys.png", full_page=True)
                context.close()

                phone = browser.new_context(
                    locale="en-US",
                    viewport={"width": 390, "height": 844},
                    is_mobile=True,
                    device_scale_factor=2,
                )
                phone.set_default_timeout(TIMEOUT_MS)
                page = phone.new_page()
                page.goto(server.base_url)
                page.get_by_label("API key").fill(admin)
                page.get_by_role("button", name="Sign in").click()
                page.get_by_role("button", name="Conversations").click()
                expect(page.get_by_role("navigation", name="Conversations")).to_be_in_viewport()
                page.wait_for_timeout(300)
                page.screenshot(path=out / "phone-history.png")
                phone.close()
                browser.close()
        finally:
            stop_server(server)
    for path in sorted(out.glob("*.png")):
        print(path)


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/screenshots"))
