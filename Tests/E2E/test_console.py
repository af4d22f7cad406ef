"""The web console in headless Chromium, against a Wharf with access control on that skopeo (a multi-arch index), helm (a
chart) and oras (an artifact with a referrer) filled. Screenshots of each page go to `$WHARF_E2E_ARTIFACTS/console`
(default `.test-artifacts/console`)."""

import json
import os
import re
from pathlib import Path

import oras.client
import oras.oci
import pytest
import requests
from selenium import webdriver
from selenium.common.exceptions import StaleElementReferenceException, WebDriverException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.wait import WebDriverWait

from conftest import ROOT, Server, cluster_size, require, run
from images import Layout, sha256
from secure_registry import PASSWORDS, start_secure
from test_helm import helm_binary, helm_env

pytestmark = pytest.mark.skipif(cluster_size() > 1, reason="drives one server with access control on")

XSS = "<script>window.__xss = 1</script>"
ARTIFACTS = Path(os.environ.get("WHARF_E2E_ARTIFACTS", ROOT / ".test-artifacts")) / "console"


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    """The registry, filled by real clients as alice (push on team-a/**) and carol (push on team-b/**)."""
    base = tmp_path_factory.mktemp("console")
    secure = start_secure(base)
    try:
        host = secure.server.host
        alice = f"alice:{PASSWORDS['alice']}"

        layout = Layout(base / "layout")
        layout.multi_arch("v1")
        run(require("skopeo"), "copy", "--all", "--dest-tls-verify=false", "--dest-creds", alice, f"oci:{layout.path}:v1",
            f"docker://{host}/team-a/multi:v1")
        run(require("skopeo"), "copy", "--all", "--dest-tls-verify=false", "--dest-creds", alice, f"oci:{layout.path}:v1",
            f"docker://{host}/team-a/multi:v2")
        run(require("skopeo"), "copy", "--all", "--dest-tls-verify=false", "--dest-creds", f"carol:{PASSWORDS['carol']}",
            f"oci:{layout.path}:v1", f"docker://{host}/team-b/secret:v1")

        helm = helm_binary("helm3")
        env = helm_env(base / "helm")
        run(helm, "create", base / "console-chart", env=env)
        run(helm, "package", base / "console-chart", "--destination", base, env=env)
        run(helm, "registry", "login", host, "--username", "alice", "--password", PASSWORDS["alice"], "--insecure", env=env)
        run(helm, "push", base / "console-chart-0.1.0.tgz", f"oci://{host}/team-a/charts", env=env)

        client = oras.client.OrasClient(insecure=True)
        client.login(username="alice", password=PASSWORDS["alice"], hostname=host)
        previous = os.getcwd()
        os.chdir(base)  # oras pushes files by their relative names
        (base / "app.txt").write_text("the subject\n")
        client.push(target=f"{host}/team-a/oras:v1", files=["app.txt"], manifest_annotations={"note": XSS})
        subject_raw = requests.get(f"{secure.server.url}/v2/team-a/oras/manifests/v1", auth=("alice", PASSWORDS["alice"]),
                                   headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
        subject = oras.oci.Subject(mediaType=subject_raw.headers["Content-Type"], digest=sha256(subject_raw.content),
                                   size=len(subject_raw.content))
        (base / "sbom.json").write_text('{"packages": []}')
        (base / "config.json").write_text("{}")
        client.push(target=f"{host}/team-a/oras:sbom", files=["sbom.json"], subject=subject,
                    manifest_config="config.json:application/vnd.example.sbom.v1")
        os.chdir(previous)
        # A client whose user agent tries to get into the audit page.
        requests.get(f"{secure.server.url}/v2/", headers={"User-Agent": XSS})
        # skopeo may re-encode the index: its digest is the registry's.
        stored = requests.head(f"{secure.server.url}/v2/team-a/multi/manifests/v1", auth=("alice", PASSWORDS["alice"]),
                               headers={"Accept": "application/vnd.oci.image.index.v1+json"})
        yield secure, {"index": stored.headers["Docker-Content-Digest"], "subject": subject.digest}
    finally:
        secure.server.stop()


@pytest.fixture(scope="module")
def browser():
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1280,900"):
        options.add_argument(flag)
    options.binary_location = require("chromium")
    driver = webdriver.Chrome(service=Service(executable_path=require("chromedriver")), options=options)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    yield driver
    driver.quit()


def shot(driver, name):
    driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))


def click(driver, element):
    """Clicks a link or button and waits for the next page."""
    page = driver.find_element(By.TAG_NAME, "html")
    element.click()

    def left(_):
        try:
            page.is_enabled()
            return False
        except StaleElementReferenceException:
            return True
        except WebDriverException as error:
            # Chromium may report the old page's node so instead of as stale.
            if "does not belong to the document" in error.msg:
                return True
            raise

    WebDriverWait(driver, 15).until(left)


def sign_in(driver, url, user):
    driver.delete_all_cookies()
    driver.get(f"{url}/ui/")
    assert "/ui/login" in driver.current_url
    driver.find_element(By.ID, "user").send_keys(user)
    driver.find_element(By.ID, "password").send_keys(PASSWORDS[user])
    click(driver, driver.find_element(By.CSS_SELECTOR, "form.login button"))


def main_text(driver):
    return driver.find_element(By.TAG_NAME, "main").text


def test_an_administrator_browses_audits_and_deletes(filled, browser):
    secure, digests = filled
    url = secure.server.url
    browser.get(f"{url}/ui/")
    shot(browser, "01-sign-in")
    sign_in(browser, url, "root")
    assert browser.title == "Overview · Wharf"
    overview = main_text(browser)
    assert re.search(r"Repositories\n4\nTags\n6", overview), overview
    assert "Saved by sharing" in overview and "active master key" in overview
    shot(browser, "02-overview")

    click(browser, browser.find_element(By.LINK_TEXT, "Repositories"))
    rows = {row.find_element(By.TAG_NAME, "th").text: row.text
            for row in browser.find_elements(By.CSS_SELECTOR, "#repository-list tbody tr")}
    assert sorted(rows) == ["team-a/charts/console-chart", "team-a/multi", "team-a/oras", "team-b/secret"]
    # team-a/multi shares every blob with team-b/secret: its whole size is shared.
    assert re.search(r"team-a/multi 2 3 (\S+ \S+) \1 \(100 %\)", rows["team-a/multi"]), rows["team-a/multi"]
    shot(browser, "03-repositories")

    # The live filter narrows the list without a reload (and the form works without script).
    browser.find_element(By.ID, "q").send_keys("ora")
    # Read in one script: the list may be replaced between finding its rows and reading them.
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(
        "return [...document.querySelectorAll('#repository-list tbody th')].map(e => e.textContent)") == ["team-a/oras"])
    assert browser.current_url.endswith("/ui/repositories?q=ora")

    browser.get(f"{url}/ui/repositories/team-a/multi")
    table = main_text(browser)
    assert "multi-platform index" in table and "linux/amd64, linux/arm64" in table
    pull = browser.find_element(By.CSS_SELECTOR, "input.copy").get_attribute("value")
    assert pull == f"podman pull {secure.server.host}/team-a/multi:v1"
    shot(browser, "04-repository")

    click(browser, browser.find_element(By.PARTIAL_LINK_TEXT, digests["index"][:19]))
    page = main_text(browser)
    assert digests["index"] in page and "linux/arm64" in page and '"mediaType" : "application/vnd.oci.image.index.v1+json"' in page
    shot(browser, "05-index")

    browser.get(f"{url}/ui/repositories/team-a/charts/console-chart")
    assert "Helm chart" in main_text(browser)
    assert browser.find_element(By.CSS_SELECTOR, "input.copy").get_attribute("value") == (
        f"helm pull oci://{secure.server.host}/team-a/charts/console-chart --version 0.1.0")

    browser.get(f"{url}/ui/repositories/team-a/oras/-/manifests/{digests['subject']}")
    page = main_text(browser)
    assert "application/vnd.example.sbom.v1" in page, page
    # The annotation is shown as text, and did not run.
    assert XSS in page and browser.execute_script("return window.__xss") is None
    assert "<script>window.__xss" not in browser.page_source
    shot(browser, "06-manifest-referrers")

    browser.get(f"{url}/ui/audit?actor=alice")
    assert "Intact" in browser.find_element(By.ID, "chain-status").text or "running" in browser.find_element(
        By.ID, "chain-status").text
    actors = {row.find_elements(By.TAG_NAME, "td")[1].text
              for row in browser.find_elements(By.CSS_SELECTOR, "main tbody tr")}
    assert actors == {"alice"}
    shot(browser, "07-audit-filtered")
    browser.get(f"{url}/ui/audit?action=ping")
    assert XSS in main_text(browser) and browser.execute_script("return window.__xss") is None
    export = browser.find_element(By.PARTIAL_LINK_TEXT, "JSON lines").get_attribute("href")
    assert export.endswith("/ui/audit/export?action=ping")
    cookies = {c["name"]: c["value"] for c in browser.get_cookies()}
    lines = requests.get(export, cookies=cookies).text.splitlines()
    assert lines and all(json.loads(line)["action"] == "ping" for line in lines)
    assert any(json.loads(line)["userAgent"] == XSS for line in lines)
    # 50 records a page, newest stored first; the next page is exactly the API's page after the same cursor.
    # (Stored order is not arrival order: a record is written when its request ends, and carries its arrival time.)
    browser.get(f"{url}/ui/audit")
    assert len(browser.find_elements(By.CSS_SELECTOR, "main tbody tr")) == 50
    older = browser.find_element(By.LINK_TEXT, "Older records")
    cursor = re.search(r"cursor=(\d+)", older.get_attribute("href")).group(1)
    click(browser, older)
    second = [cell.text for cell in browser.find_elements(By.CSS_SELECTOR, "main tbody td:first-child")]
    api = requests.get(f"{url}/api/v1/audit", params={"cursor": cursor, "limit": 50},
                       auth=("root", PASSWORDS["root"])).json()["records"]
    assert second and second == [record["time"] for record in api]

    # Deleting a tag asks first, then the tag is gone for clients too.
    browser.get(f"{url}/ui/repositories/team-a/multi")
    click(browser, browser.find_element(By.CSS_SELECTOR, "a.danger[href$='/tags/v2/delete']"))
    assert "Delete the tag v2 of team-a/multi?" in main_text(browser)
    shot(browser, "08-confirm-delete")
    click(browser, browser.find_element(By.CSS_SELECTOR, "main form button.danger"))
    assert browser.current_url.endswith("/ui/repositories/team-a/multi")
    assert [e.text for e in browser.find_elements(By.CSS_SELECTOR, "main tbody th")] == ["v1"]
    gone = requests.get(f"{url}/v2/team-a/multi/manifests/v2", auth=("root", PASSWORDS["root"]))
    assert gone.status_code == 404
    browser.get(f"{url}/ui/audit?action=delete-tag")
    assert "root" in main_text(browser) and "team-a/multi" in main_text(browser)
    shot(browser, "09-audit-delete")


def test_keyboard_and_400_percent_zoom(filled, browser):
    secure, digests = filled
    url = secure.server.url
    sign_in(browser, url, "root")
    browser.get(f"{url}/ui/repositories/team-a/oras/-/manifests/{digests['subject']}")
    # The first Tab reaches the skip link, and following it moves focus into the page's content.
    ActionChains(browser).send_keys(Keys.TAB).perform()
    skip = browser.switch_to.active_element
    assert skip.text == "Skip to content" and skip.get_attribute("href").endswith("#main")
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    assert browser.execute_script("return location.hash") == "#main"
    # 400 % zoom of a 1280 px window is a 320 px viewport: nothing may need scrolling sideways but wide tables, which
    # scroll inside their own box.
    try:
        browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                                {"width": 320, "height": 900, "deviceScaleFactor": 1, "mobile": False})
        for page in ("/ui/", "/ui/repositories", "/ui/repositories/team-a/multi", "/ui/audit",
                     f"/ui/repositories/team-a/oras/-/manifests/{digests['subject']}"):
            browser.get(url + page)
            assert browser.execute_script("return window.innerWidth") == 320
            overflow = browser.execute_script(
                "return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 0, f"{page} is {overflow} px too wide at 320 px"
        shot(browser, "10-zoomed-repository")
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})


def test_a_user_sees_only_what_they_may_pull(filled, browser):
    secure, _ = filled
    url = secure.server.url
    sign_in(browser, url, "alice")
    assert browser.current_url.endswith("/ui/repositories")  # the overview is for administrators
    browser.get(f"{url}/ui/repositories")
    names = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#repository-list tbody th")]
    assert "team-b/secret" not in names and "team-a/multi" in names
    assert "team-b" not in browser.page_source
    browser.get(f"{url}/ui/repositories/team-b/secret")
    assert main_text(browser).startswith("Not found") and "secret" not in browser.page_source
    browser.get(f"{url}/ui/repositories/team-b/nothing-here")
    assert main_text(browser).startswith("Not found")
    browser.get(f"{url}/ui/audit")
    assert "administrators" in main_text(browser)
    # alice may push but not delete: no delete links.
    browser.get(f"{url}/ui/repositories/team-a/multi")
    assert not browser.find_elements(By.CSS_SELECTOR, "a.danger")


def csrf_of(page: str) -> str:
    return re.search(r'name="csrf" value="([0-9a-f]+)"', page).group(1)


def signed_in(url, user, password, **kwargs):
    """A requests session signed in to the console, as a browser would hold it (also used by other modules)."""
    session = requests.Session()
    login = session.get(f"{url}/ui/login", **kwargs)
    answer = session.post(f"{url}/ui/login", data={"csrf": csrf_of(login.text), "user": user, "password": password},
                          allow_redirects=False, **kwargs)
    assert answer.status_code == 303, answer.text
    return session


def console_session(url, user):
    """A signed-in session and a delete form's CSRF token."""
    session = signed_in(url, user, PASSWORDS[user])
    return session, csrf_of(session.get(f"{url}/ui/repositories/team-a/multi/-/tags/v1/delete").text)


def test_a_robot_signs_in_with_its_secret(filled):
    secure, _ = filled
    url = secure.server.url
    robot = signed_in(url, "robot$ci", secure.robot_secret)  # pull on team-a/**
    page = robot.get(f"{url}/ui/repositories").text
    names = re.findall(r'<th scope="row"><a href="/ui/repositories/([^"]+)">', page)
    assert names == ["team-a/charts/console-chart", "team-a/multi", "team-a/oras"]
    assert robot.get(f"{url}/ui/p2p").status_code == 403
    # Signed out, the session is gone: its cookie no longer opens a page.
    form = robot.get(f"{url}/ui/repositories").text
    assert robot.post(f"{url}/ui/logout", data={"csrf": csrf_of(form)}, allow_redirects=False).status_code == 303
    assert robot.get(f"{url}/ui/repositories", allow_redirects=False).headers["Location"].startswith("/ui/login")


def test_forged_csrf_tokens_and_foreign_sessions_change_nothing(filled):
    secure, _ = filled
    url = secure.server.url
    session, csrf = console_session(url, "dave")  # dave may delete in team-a/**
    target = f"{url}/ui/repositories/team-a/multi/-/tags/v1/delete"
    for forged in ("", "0" * 64, csrf[:-1] + ("0" if csrf[-1] != "0" else "1")):
        refused = session.post(target, data={"csrf": forged}, allow_redirects=False)
        assert refused.status_code == 403 and "security token" in refused.text
    # Another visitor's token is no good either.
    _, other = console_session(url, "root")
    assert session.post(target, data={"csrf": other}, allow_redirects=False).status_code == 403
    assert requests.get(f"{url}/v2/team-a/multi/manifests/v1", auth=("root", PASSWORDS["root"])).status_code == 200
    # With its own token, dave deletes a manifest (the SBOM referrer) from its page's confirmation.
    oras_page = session.get(f"{url}/ui/repositories/team-a/oras").text
    sbom = re.search(r'<th scope="row">sbom</th>\s*<td><a href="[^"]*/manifests/(sha256:[0-9a-f]{64})"', oras_page).group(1)
    confirm = session.get(f"{url}/ui/repositories/team-a/oras/-/manifests/{sbom}/delete")
    assert "and every tag pointing at it" in confirm.text
    deleted = session.post(f"{url}/ui/repositories/team-a/oras/-/manifests/{sbom}/delete",
                           data={"csrf": csrf_of(confirm.text)}, allow_redirects=False)
    assert deleted.status_code == 303 and deleted.headers["Location"] == "/ui/repositories/team-a/oras"
    assert requests.get(f"{url}/v2/team-a/oras/manifests/{sbom}", auth=("root", PASSWORDS["root"])).status_code == 404
    # A sign-in form without its token is refused as well.
    fresh = requests.Session()
    refused = fresh.post(f"{url}/ui/login", data={"user": "root", "password": PASSWORDS["root"]}, allow_redirects=False)
    assert refused.status_code == 403


def test_session_cookie_flags_and_page_headers(filled):
    secure, _ = filled
    login = requests.get(f"{secure.tls_url}/ui/login", verify=str(secure.ca))
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Secure" in cookie
    plain = requests.get(f"{secure.server.url}/ui/login")
    assert "Secure" not in plain.headers["Set-Cookie"]
    policy = plain.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in plain.text.replace('<script src="/ui/static/console.js" defer></script>', "")
    wrong = requests.post(f"{secure.server.url}/ui/login", cookies=plain.cookies, allow_redirects=False, data={
        "csrf": re.search(r'name="csrf" value="([0-9a-f]+)"', plain.text).group(1), "user": "root", "password": "no"})
    assert wrong.status_code == 401 and "Wrong user or password" in wrong.text


def test_the_console_can_move_or_be_turned_off(tmp_path):
    moved = Server(tmp_path / "moved", extra_env={"WHARF_UI_PATH": "/registry/console"})
    off = Server(tmp_path / "off", extra_env={"WHARF_UI": "off"})
    try:
        page = requests.get(f"{moved.url}/registry/console/repositories")
        assert page.status_code == 200 and 'href="/registry/console/static/console.css"' in page.text
        assert "Path=/registry/console;" in page.headers["Set-Cookie"]
        assert requests.get(f"{moved.url}/ui/").status_code == 404
        assert requests.get(f"{off.url}/ui/").status_code == 404
        assert requests.get(f"{off.url}/ui/static/console.css").status_code == 404
    finally:
        moved.stop()
        off.stop()
