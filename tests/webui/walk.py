#!/usr/bin/env python3
"""Drives AgentScope's web UI (v2.0.0, built) in headless Chromium against an agent-sessions
server, as a user would: set up a user, create an agent, create three sessions, see them
newest first, rename them, open one, delete one, reload. Run by scripts/webui-test.sh.

    walk.py --ui http://127.0.0.1:PORT --server-url URL --api URL --shots DIR [--expect-blocked]

--ui is where the UI is served; --server-url is what the UI is told to call (its
localStorage.server_url); --api is the server itself, read directly to check what the UI did.
With --expect-blocked the check is reversed: the UI must fail to reach the server (a
cross-origin server without CORS), which shows that the cross-origin walk needs CORS.

Fails on a wrong name or order, on any error toast, and on any console error, except the
one error the reference itself shows: opening a session calls /workspace/mcp and
/workspace/skill, which AgentScope 2.0.0 without a workspace manager answers 503
"Workspace manager is not configured." (and the UI toasts it); this server answers the same.
Screenshots of a failure go to --shots.
"""
import argparse
import json
import re
import sys
import tempfile
import time
import traceback
import urllib.request
import uuid

from selenium import webdriver
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By

# What the reference answers too, and the UI shows for it: allowed, and nothing else.
WORKSPACE_503 = "Workspace manager is not configured."
ALLOWED_CONSOLE = re.compile(r"/workspace/(mcp|skill)\?.* 503 \(Service Unavailable\)")

# Records every toast the page shows (sonner's [data-sonner-toast]), from the first paint.
TOAST_RECORDER = """
window.__toasts = [];
new MutationObserver(() => {
  document.querySelectorAll('[data-sonner-toast]').forEach(t => {
    if (t.__seen) return;
    t.__seen = true;
    window.__toasts.push({type: t.getAttribute('data-type') || '', text: t.innerText.trim()});
  });
}).observe(document, {childList: true, subtree: true});
"""

SESSION_ITEMS = "li[data-slot=sidebar-menu-item]"


class Walk:
    def __init__(self, args):
        self.args = args
        self.user = "webui-" + uuid.uuid4().hex[:8]
        self.toasts = []
        self.console = []
        opts = webdriver.ChromeOptions()
        opts.binary_location = args.chromium
        for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--no-first-run", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--window-size=1400,900"):
            opts.add_argument(flag)
        opts.add_argument("--user-data-dir=" + tempfile.mkdtemp(prefix="webui-chrome-"))
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.d = webdriver.Chrome(service=Service(args.chromedriver), options=opts)
        self.d.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": TOAST_RECORDER})

    # --- what the page shows -------------------------------------------------------------

    def collect(self):
        """Gathers the toasts and console lines since the last call."""
        try:
            self.toasts += self.d.execute_script("return window.__toasts.splice(0)") or []
        except WebDriverException:
            pass
        for entry in self.d.get_log("browser"):
            if entry["level"] in ("SEVERE", "ERROR"):
                self.console.append(entry["message"])

    def wait(self, what, check, timeout=15):
        deadline = time.time() + timeout
        while True:
            try:
                value = check()
                if value:
                    return value
            except WebDriverException:
                pass
            if time.time() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            time.sleep(0.1)

    def session_names(self):
        names = []
        for li in self.d.find_elements(By.CSS_SELECTOR, SESSION_ITEMS):
            if li.find_elements(By.CSS_SELECTOR, "[data-slot=sidebar-menu-action]"):
                names.append(li.text.strip())
        return names

    def expect_names(self, want, step):
        self.wait(f"{step}: sessions {want}", lambda: self.session_names() == want)
        print(f"  ok: {step}: {want}")

    def button(self, text, scope="[role=dialog]"):
        return self.wait(f"button {text!r}", lambda: next(
            (b for b in self.d.find_elements(By.CSS_SELECTOR, f"{scope} button")
             if b.text.strip() == text and b.is_displayed() and b.is_enabled()), None))

    def item(self, name):
        return self.wait(f"session {name!r}", lambda: next(
            (li for li in self.d.find_elements(By.CSS_SELECTOR, SESSION_ITEMS)
             if li.text.strip() == name), None))

    def menu(self, name, action):
        li = self.item(name)
        ActionChains(self.d).move_to_element(li).perform()
        trigger = li.find_element(By.CSS_SELECTOR, "[data-slot=dropdown-menu-trigger]")
        ActionChains(self.d).move_to_element(trigger).click().perform()
        entry = self.wait(f"menu item {action!r}", lambda: next(
            (m for m in self.d.find_elements(By.CSS_SELECTOR, "[role=menuitem]")
             if m.text.strip() == action and m.is_displayed()), None))
        entry.click()

    def no_dialog(self):
        self.wait("the dialog to close", lambda: not [
            x for x in self.d.find_elements(By.CSS_SELECTOR, "[role=dialog], [role=alertdialog]")
            if x.is_displayed()])

    # --- the server, read directly -------------------------------------------------------

    def api(self, path):
        req = urllib.request.Request(self.args.api + path, headers={"x-user-id": self.user})
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.load(r)

    # --- the walk ------------------------------------------------------------------------

    def setup_user(self):
        self.d.get(self.args.ui + "/")
        self.d.find_element(By.ID, "server-url-input").send_keys(self.args.server_url)
        self.d.find_element(By.ID, "username-input").send_keys(self.user)
        self.button("Get Started", "form").click()
        self.wait("the main page", lambda: self.d.find_elements(By.ID, "tour-create-agent"))
        print(f"  ok: set up user {self.user} on {self.args.server_url}")

    def create_agent(self):
        self.d.find_element(By.ID, "tour-create-agent").click()
        self.wait("the agent dialog", lambda: self.d.find_element(By.ID, "agent-name")).send_keys("Helper")
        self.button("Create").click()
        self.no_dialog()
        self.wait("the agent selected", lambda: "Helper" in self.d.find_element(
            By.CSS_SELECTOR, "[data-slot=select-trigger]").text)
        agents = self.api("/agent/")["agents"]
        assert [a["data"]["name"] for a in agents] == ["Helper"], agents
        self.agent_id = agents[0]["id"]
        print("  ok: created agent Helper")

    def create_sessions(self, n):
        for i in range(n):
            before = len(self.session_names())
            button = self.wait("the new-session button",
                               lambda: self.d.find_element(By.ID, "tour-create-session").is_enabled()
                               and self.d.find_element(By.ID, "tour-create-session"))
            button.click()
            self.wait(f"session {i + 1} listed", lambda: len(self.session_names()) == before + 1)
            time.sleep(0.05)
        listed = self.api(f"/sessions/?agent_id={self.agent_id}")
        assert listed["total"] == n, listed
        print(f"  ok: created {n} sessions")
        return [s["config"]["name"] for s in listed["sessions"]]

    def rename(self, old, new):
        self.menu(old, "Rename")
        field = self.wait("the name field", lambda: next(
            (i for i in self.d.find_elements(By.CSS_SELECTOR, "[role=dialog] input")
             if i.is_displayed()), None))
        field.clear()
        field.send_keys(new)
        self.button("Rename").click()
        self.no_dialog()

    def delete(self, name):
        self.menu(name, "Delete")
        confirm = self.wait("a confirmation, or the session gone", lambda: next(
            (b for b in self.d.find_elements(
                By.CSS_SELECTOR, "[role=dialog] button, [role=alertdialog] button")
             if b.text.strip() in ("Delete", "Confirm") and b.is_displayed()), None)
            or name not in self.session_names())
        if confirm is not True:
            confirm.click()
            self.no_dialog()

    def open(self, name):
        li = self.item(name)
        li.find_element(By.CSS_SELECTOR, "[data-slot=sidebar-menu-button]").click()
        self.wait(f"{name!r} active", lambda: self.item(name).find_element(
            By.CSS_SELECTOR, "[data-slot=sidebar-menu-button]").get_attribute("data-active") == "true")
        self.wait("its (empty) history", lambda: "No Messages Yet" in self.d.find_element(
            By.TAG_NAME, "body").text)
        print(f"  ok: opened {name!r}")

    def reload(self):
        self.collect()
        self.d.refresh()
        self.wait("the main page", lambda: self.d.find_elements(By.ID, "tour-create-agent"))

    def run(self):
        self.setup_user()
        self.create_agent()
        self.create_sessions(3)
        self.expect_names(self.api_names(), "listed newest first, as the server lists them")
        for old, new in zip(self.session_names(), ["Third", "Second", "First"]):
            self.rename(old, new)
        self.expect_names(["Third", "Second", "First"], "renamed, still newest first")
        assert self.api_names() == ["Third", "Second", "First"], self.api_names()
        self.reload()
        self.expect_names(["Third", "Second", "First"], "after a reload")
        self.open("First")
        self.open("Second")
        self.delete("Second")
        self.expect_names(["Third", "First"], "after deleting Second")
        assert self.api_names() == ["Third", "First"], self.api_names()
        self.reload()
        self.expect_names(["Third", "First"], "after another reload")
        time.sleep(0.5)
        self.collect()

    def api_names(self):
        return [s["config"]["name"] for s in self.api(f"/sessions/?agent_id={self.agent_id}")["sessions"]]

    def check_page(self):
        errors = [t for t in self.toasts if t["type"] == "error" and t["text"] != WORKSPACE_503]
        others = [t for t in self.toasts if t["type"] != "error"]
        console = [c for c in self.console if not ALLOWED_CONSOLE.search(c)]
        shown = sorted({(t["type"], t["text"]) for t in self.toasts})
        print(f"  toasts shown: {shown} ({len(self.toasts)} in all)")
        assert not errors, f"error toasts: {errors}"
        assert not console, f"console errors: {console}"
        return others

    def run_blocked(self):
        """Without CORS the UI must not get through: the browser blocks its calls, and the
        agent it tries to create never reaches the server."""
        self.setup_user()
        self.d.find_element(By.ID, "tour-create-agent").click()
        self.wait("the agent dialog", lambda: self.d.find_element(By.ID, "agent-name")).send_keys("Helper")
        self.button("Create").click()
        self.wait("the browser to block the call", lambda: (self.collect() or True) and any(
            "blocked by CORS policy" in c for c in self.console))
        assert self.api("/agent/")["agents"] == [], "the agent got through"
        print("  ok: blocked by the browser's CORS policy, as expected")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--ui", required=True)
    p.add_argument("--server-url", required=True)
    p.add_argument("--api", required=True)
    p.add_argument("--shots", required=True)
    p.add_argument("--name", default="walk")
    p.add_argument("--expect-blocked", action="store_true")
    p.add_argument("--chromium", default="/usr/bin/chromium")
    p.add_argument("--chromedriver", default="/usr/bin/chromedriver")
    p.add_argument("--screenshot", help="save a screenshot of the final page here")
    args = p.parse_args()
    walk = Walk(args)
    try:
        if args.expect_blocked:
            walk.run_blocked()
        else:
            walk.run()
            walk.check_page()
            if args.screenshot:
                walk.d.save_screenshot(args.screenshot)
        return 0
    except Exception:
        traceback.print_exc()
        walk.collect()
        shot = f"{args.shots}/{args.name}-failure.png"
        try:
            walk.d.save_screenshot(shot)
            print(f"  screenshot: {shot}", file=sys.stderr)
        except WebDriverException:
            pass
        print(f"  toasts: {walk.toasts}\n  console: {walk.console}", file=sys.stderr)
        return 1
    finally:
        walk.d.quit()


if __name__ == "__main__":
    sys.exit(main())
