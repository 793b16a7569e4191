"""The web console in Debian's headless Chromium against a real `deepfort serve` with keys: sign in, a
streamed answer with its reasoning block, stop, history after a reload, feedback, and key management."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Locator, Page, expect
from prometheus_client.parser import text_string_to_metric_families

from deepfort.catalog import embedded_model_path
from tests.helpers import wait_until
from tests.web.conftest import Console, sign_in

pytestmark = pytest.mark.browser

# Recorded in the page as it changes: the newest reasoning block's state and whether an answer shows yet.
WATCH_REASONING = """
window.__reasoning = [];
new MutationObserver(() => {
  const answers = document.querySelectorAll("article.message-answer");
  const block = answers[answers.length - 1]?.querySelector("details.reasoning");
  if (!block) return;
  const answered = !!block.closest("article").querySelector(".markdown");
  const state = (block.open ? "open" : "closed") + (answered ? "+answer" : "");
  if (window.__reasoning[window.__reasoning.length - 1] !== state) window.__reasoning.push(state);
}).observe(document, { subtree: true, childList: true, attributes: true, characterData: true });
"""


def options(
    page: Page, model: str, *, max_tokens: int, budget: int | None = None, temperature: float = 0
) -> None:
    page.get_by_label("Model").select_option(model)
    page.get_by_text("Options", exact=True).click()
    page.get_by_label("Temperature").fill(str(temperature))
    page.get_by_label("Max tokens").fill(str(max_tokens))
    page.get_by_label("Thinking budget (tokens)").fill("" if budget is None else str(budget))


def ask(page: Page, question: str) -> Locator:
    page.get_by_label("Message").fill(question)
    page.get_by_label("Message").press("Enter")
    return page.locator("article.message-answer").last


def finished(answer: Locator) -> None:
    expect(answer).to_have_attribute("aria-busy", "false")


def metric(console: Console, name: str) -> float:
    text = console.get("/metrics").text
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == name:
                return float(sample.value)
    return 0.0


def test_sign_in_refuses_a_bad_key_then_accepts_a_good_one(page: Page, console: Console) -> None:
    page.goto(console.url)
    expect(page.get_by_role("heading", name="deepfort")).to_be_visible()
    page.get_by_label("API key").fill("df-nope--not-a-key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("not accepted")
    sign_in(page, console)
    # The key lives in this tab's session storage only.
    assert page.evaluate("sessionStorage.getItem('deepfort.apiKey')") == console.admin_key
    assert page.evaluate("localStorage.getItem('deepfort.apiKey')") is None
    page.reload()
    expect(page.get_by_label("Message")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_label("API key")).to_be_visible()


def test_streamed_answer_with_a_reasoning_block_that_collapses(page: Page, console: Console) -> None:
    page.add_init_script(WATCH_REASONING)
    sign_in(page, console)
    options(page, "smol-r1", max_tokens=96, budget=24)
    answer = ask(page, "Why is the sky blue?")
    finished(answer)
    states: list[str] = page.evaluate("window.__reasoning")
    # Streamed live, open while thinking; closed the moment the answer began, never open beside it.
    assert states[0] == "open", states
    assert states[-1] == "closed+answer", states
    assert "open+answer" not in states, states
    block = answer.locator("details.reasoning")
    expect(block.locator("summary")).to_have_text(re.compile(r"Thought for \d+\.\d s"))
    expect(block).not_to_have_attribute("open", "")
    block.locator("summary").click()  # the reader may open it again
    expect(block.locator(".reasoning-text")).not_to_be_empty()
    expect(answer.locator(".markdown")).not_to_be_empty()
    meta = answer.locator(".meta")
    expect(meta).to_contain_text(re.compile(r"smol-r1 \(local\) · \d+ tokens \(\d+ reasoning\)"))
    expect(meta).to_contain_text("first token")


def test_stop_cancels_the_generation_on_the_server(page: Page, console: Console) -> None:
    before = console.get("/stats").json()["models"]["smollm2-135m"]["cancelled_total"]
    sign_in(page, console)
    options(page, "smollm2-135m", max_tokens=1500)
    answer = ask(page, "Tell a very long story.")
    expect(answer.locator(".markdown")).not_to_be_empty()
    page.get_by_role("button", name="Stop").click()
    expect(answer.get_by_text("Stopped.")).to_be_visible()
    expect(page.get_by_role("button", name="Send", exact=True)).to_be_visible()

    def cancelled() -> bool:
        stats = console.get("/stats").json()["models"]["smollm2-135m"]
        return bool(stats["cancelled_total"] > before and stats["running"] == 0)

    wait_until(cancelled, "the server cancelled the stopped generation", limit=30)


def test_reload_finds_the_conversation_then_rename_search_delete(page: Page, console: Console) -> None:
    sign_in(page, console)
    options(page, "smollm2-135m", max_tokens=24)
    finished(ask(page, "Name three primary colours."))
    expect(page).to_have_url(re.compile(r"/c/[0-9a-f-]{36}$"))
    conversation = page.url.rsplit("/", 1)[1]
    page.reload()
    expect(page.locator(".message-user")).to_have_text("Name three primary colours.")
    expect(page.locator("article.message-answer .markdown")).not_to_be_empty()
    history = page.get_by_role("navigation", name="Conversations")
    link = history.get_by_role("link", name=re.compile("Name three primary colours"))
    expect(link).to_have_attribute("aria-current", "page")

    history.get_by_role("button", name="Rename “Name three primary colours.”").click()
    history.get_by_label("New title").fill("Colours 颜色")
    history.get_by_role("button", name="Save").click()
    expect(history.get_by_role("link", name=re.compile("Colours 颜色"))).to_be_visible()
    assert console.get(f"/v1/conversations/{conversation}").json()["title"] == "Colours 颜色"

    search = page.get_by_label("Search conversations")
    search.fill("zzz-no-such-title")
    expect(history.get_by_text("No conversation matches.")).to_be_visible()
    search.fill("颜色")
    expect(history.get_by_role("link", name=re.compile("Colours 颜色"))).to_be_visible()

    history.get_by_role("button", name="Delete “Colours 颜色”").click()
    history.get_by_role("button", name="Delete", exact=True).click()
    expect(history.get_by_role("link", name=re.compile("Colours 颜色"))).to_have_count(0)
    expect(page).to_have_url(f"{console.url}/")
    assert console.get(f"/v1/conversations/{conversation}").status_code == 404


def test_continuing_edit_and_regenerate(page: Page, console: Console) -> None:
    sign_in(page, console)
    options(page, "smollm2-135m", max_tokens=16)
    finished(ask(page, "Say hello."))
    conversation = page.url.rsplit("/", 1)[1]
    finished(ask(page, "Say goodbye."))
    assert page.url.endswith(conversation)  # the second turn went into the same conversation
    expect(page.locator(".message-user")).to_have_count(2)

    page.locator(".message-user").nth(1).get_by_role("button", name="Edit and resend").click()
    page.get_by_label("Edit your message").fill("Say thanks.")
    page.get_by_role("button", name="Send edited").click()
    finished(page.locator("article.message-answer").last)
    expect(page.locator(".message-user")).to_have_text(["Say hello.", "Say thanks."])

    page.get_by_role("button", name="Regenerate").click()
    finished(page.locator("article.message-answer").last)
    expect(page.locator("article.message-answer")).to_have_count(2)
    stored = console.get(f"/v1/conversations/{conversation}").json()["messages"]
    assert [m["content"] for m in stored if m["role"] == "user"][-1] == "Say thanks."


def test_copy_and_feedback_up_and_down_with_a_correction(page: Page, console: Console) -> None:
    samples = metric(console, "deepfort:answer_accuracy_samples")
    sign_in(page, console)
    options(page, "smollm2-135m", max_tokens=16)
    first = ask(page, "What is 2+2?")
    finished(first)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=console.url)
    first.get_by_role("button", name="Copy").click()
    conversation = page.url.rsplit("/", 1)[1]
    stored = console.get(f"/v1/conversations/{conversation}").json()["messages"][-1]["content"]
    wait_until(
        lambda: page.evaluate("navigator.clipboard.readText()") == stored, "the answer copied", limit=10
    )
    first.get_by_role("button", name="Good answer").click()
    expect(first.get_by_text("Thanks, noted.")).to_be_visible()
    expect(first.get_by_role("button", name="Good answer")).to_have_attribute("aria-pressed", "true")

    second = ask(page, "What is 3+3?")
    finished(second)
    second.get_by_role("button", name="Bad answer").click()
    second.get_by_label("What should the answer have been? (optional)").fill("6")
    second.get_by_role("button", name="Send feedback").click()
    expect(second.get_by_text("Thanks, noted.")).to_be_visible()
    wait_until(
        lambda: metric(console, "deepfort:answer_accuracy_samples") >= samples + 2,
        "both verdicts counted in deepfort:answer_accuracy",
        limit=10,
    )


def test_errors_in_plain_words_with_a_retry(page: Page, console: Console) -> None:
    sign_in(page, console, console.limited_key)
    options(page, "smollm2-135m", max_tokens=8)
    too_big = ask(page, "x" * 70_000)  # over the server's 64 KiB body limit: 413
    expect(too_big.get_by_role("alert")).to_contain_text("The message is too large for the server.")
    expect(too_big.get_by_role("button", name="Retry")).to_be_enabled()

    page.get_by_role("button", name="New chat").click()  # leave the oversized message behind
    first = ask(page, "Hi")  # the key's one request today
    finished(first)
    expect(first.get_by_role("alert")).to_have_count(0)
    limited = ask(page, "Hi again")
    alert = limited.get_by_role("alert")
    expect(alert).to_contain_text(re.compile(r"Too many requests for your key\. Wait \d+ s, then retry\."))
    expect(alert.get_by_role("button", name=re.compile(r"Retry in \d+ s"))).to_be_disabled()
    alert.get_by_text("Details").click()
    expect(alert).to_contain_text("limited to 1/day requests")


def test_admin_creates_a_key_shown_once_then_revokes_it(page: Page, console: Console) -> None:
    sign_in(page, console)
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("tab", name="API keys").click()
    page.get_by_label("Name").fill("ci-user")
    page.get_by_label("Request rate").fill("30/min")
    page.get_by_role("button", name="Create key").click()
    secret = page.get_by_test_id("new-key")
    expect(secret).to_have_text(re.compile(r"^df-[a-z0-9]{8}-[\w-]{43}$"))
    token = secret.inner_text()
    assert console.get("/v1/models", key=token).status_code == 200
    row = page.get_by_role("row", name=re.compile("ci-user"))
    expect(row).to_contain_text("30/min")

    page.get_by_role("button", name="I have saved it").click()
    expect(page.get_by_test_id("new-key")).to_have_count(0)
    page.reload()
    page.get_by_role("tab", name="API keys").click()
    expect(row).to_be_visible()
    assert token not in page.content()  # shown once: the server keeps only a hash

    page.get_by_role("button", name="Revoke key “ci-user”").click()
    page.get_by_role("button", name="Revoke", exact=True).click()
    expect(row).to_have_count(0)
    assert console.get("/v1/models", key=token).status_code == 401
    page.get_by_label("Show revoked and expired keys").check()
    expect(row).to_contain_text("revoked")


def test_admin_status_and_models(page: Page, console: Console) -> None:
    ask_directly = {"model": "smollm2-135m", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    headers = {"authorization": f"Bearer {console.admin_key}"}
    httpx.post(f"{console.url}/v1/chat/completions", json=ask_directly, headers=headers, timeout=60)
    sign_in(page, console)
    page.get_by_role("link", name="Admin").click()
    expect(page).to_have_url(f"{console.url}/manage")
    expect(page.get_by_test_id("ttft-p50")).to_have_text(re.compile(r"^\d+(\.\d+)? m?s "))
    expect(page.get_by_test_id("ttft-p95")).to_have_text(re.compile(r"^\d+(\.\d+)? m?s "))
    expect(page.get_by_test_id("running")).to_have_text(re.compile(r"^\d+$"))
    expect(page.get_by_test_id("tokens-per-second")).to_have_text(re.compile(r"^\d+\.\d$"))
    expect(page.get_by_role("row", name=re.compile("^smol-r1"))).to_be_visible()
    page.get_by_role("tab", name="API keys").press("ArrowRight")  # keyboard: the tabs pattern
    page.get_by_role("tab", name="API keys").press("ArrowRight")
    expect(page.get_by_role("tab", name="Models")).to_have_attribute("aria-selected", "true")
    models = page.get_by_role("tabpanel")
    expect(models.get_by_role("row", name=re.compile("^smollm2-135m"))).to_contain_text("ready")
    expect(models.get_by_role("row", name=re.compile("^smol-r1"))).to_contain_text("deepseek_r1")
    # Add a GGUF path: served at once, listed as ready.
    models.get_by_label("GGUF path on the server").fill(str(embedded_model_path()))
    models.get_by_label("Model id (default: the file name)").fill("console-added")
    models.get_by_role("button", name="Add a model").click()
    expect(models.get_by_role("status")).to_have_text(
        "Model “console-added” added and ready.", timeout=60_000
    )
    expect(models.get_by_role("row", name=re.compile("^console-added"))).to_contain_text("ready")


def test_admin_adds_a_lora_adapter_chats_with_it_and_removes_it(
    page: Page, console: Console, tmp_path: Path
) -> None:
    # Imported here: that module skips itself without `gguf`, which must not skip every console test.
    pytest.importorskip("gguf", reason="the GGUF writer comes with the `train` extra")
    from tests.api.test_lora_serving import write_random_lora

    adapter = write_random_lora(tmp_path / "faq.gguf", seed=3)
    sign_in(page, console)
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("tab", name="Models").click()
    block = page.get_by_role("region", name="smollm2-135m", exact=True)
    expect(block).to_contain_text("No adapters.")
    block.get_by_role("button", name="Add an adapter to smollm2-135m").click()
    block.get_by_label("Name").fill("faq")
    block.get_by_label("Adapter path on the server (GGUF)").fill(str(tmp_path / "missing.gguf"))
    block.get_by_role("button", name="Add adapter", exact=True).click()
    expect(block.get_by_role("alert")).to_have_text(
        f"The server did not add the adapter: no file at {tmp_path / 'missing.gguf'}"
    )

    block.get_by_label("Adapter path on the server (GGUF)").fill(str(adapter))
    block.get_by_label("Scale").fill("0.5")
    block.get_by_label("Keep it for restarts").uncheck()
    block.get_by_role("button", name="Add adapter", exact=True).click()
    expect(block.get_by_role("status")).to_have_text(
        "Adapter added until the server stops: use the model id smollm2-135m:faq."
    )
    row = block.get_by_role("row", name=re.compile("^faq"))
    expect(row).to_contain_text("smollm2-135m:faq")
    expect(row).to_contain_text(str(adapter))
    expect(row.get_by_role("cell").nth(1)).to_have_text("0.5")

    # The chat's picker offers it at once, marked as an adapter, and it answers.
    page.get_by_role("link", name="Chat").click()
    expect(page.get_by_label("Model").locator("option[value='smollm2-135m:faq']")).to_have_text(
        "smollm2-135m:faq (LoRA adapter)"
    )
    options(page, "smollm2-135m:faq", max_tokens=4)
    answer = ask(page, "Hi")
    finished(answer)
    expect(answer.locator(".meta")).to_contain_text("smollm2-135m:faq (local)")

    page.get_by_role("link", name="Admin").click()
    page.get_by_role("tab", name="Models").click()
    block.get_by_role("button", name="Remove adapter smollm2-135m:faq").click()
    block.get_by_role("button", name="Remove", exact=True).click()
    expect(block.get_by_role("status")).to_have_text("Adapter smollm2-135m:faq removed.")
    expect(row).to_have_count(0)
    served = [card["id"] for card in console.get("/v1/models").json()["data"]]
    assert "smollm2-135m:faq" not in served


def test_a_user_key_sees_no_admin(page: Page, console: Console) -> None:
    sign_in(page, console, console.user_key)
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)
    page.goto(f"{console.url}/manage")
    expect(page.get_by_label("Message")).to_be_visible()
    expect(page.get_by_role("heading", name="Administration")).to_have_count(0)


def test_phone_width_and_chinese(browser: Browser, console: Console) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    try:
        page.goto(console.url)
        page.get_by_label("API 密钥").fill(console.admin_key)
        page.get_by_role("button", name="登录").click()
        composer = page.get_by_label("消息")
        expect(composer).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth") <= 390  # nothing sideways
        history = page.get_by_role("navigation", name="会话")
        expect(history).not_to_be_in_viewport()
        page.get_by_role("button", name="会话列表").click()
        expect(history).to_be_in_viewport()
        history.get_by_role("button", name="新对话").click()
        expect(history).not_to_be_in_viewport()
        page.get_by_label("语言").select_option("en")
        expect(page.get_by_label("Message")).to_be_visible()
    finally:
        context.close()
