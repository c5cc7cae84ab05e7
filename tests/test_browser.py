"""The widgets in a real browser: JupyterLab on localhost, driven by headless Chromium.

One JupyterLab server (a temporary copy of the notebooks, token off, quick mode, this checkout
on PYTHONPATH) serves every page. For each widget notebook the test runs the cells up to the
widget's, checks its controls are on the page, moves one and waits for a new figure, and saves
screenshots (in $JETBOOK_SCREENSHOTS, else a pytest temporary folder). A `.py` source must open
as a notebook through the JupyterLab setting shipped in `binder/`.

Needs Debian's `chromium` and `chromium-driver` and the Python package `selenium`. Without
them the test is skipped with the reason, unless JETBOOK_REQUIRE_BROWSER=1 (set by `.ci/run`),
which turns a missing browser into a failure.
"""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
BROWSER = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000")
# notebook -> (a line of the cell that shows the widget, its control labels, the control to move)
WIDGET_NOTEBOOKS = {
    "01_change_of_variables": ("bijection_explorer = widgets.BijectionExplorer(",
                               ("rate", "offset"), "rate"),
    "02_one_coupling": ("coupling_explorer = widgets.CouplingExplorer(", ("b", "s", "m"), "s"),
    "03_flows_in_2d": ("stepper = widgets.FlowStepper(", ("depth", "◀ back", "step ▶"), "step ▶"),
    "04_patches_and_splits": ("explorer = widgets.SplitExplorer(", ("coupling", "split kind"),
                              "coupling"),
    "09_tarflow": ("explorer = widgets.GuidanceExplorer(",
                   ("class", "guidance", "temperature", "seed"), "guidance"),
}


def _missing_browser_parts() -> list[str]:
    missing = [path for path in (BROWSER, DRIVER) if not os.access(path, os.X_OK)]
    for module in ("selenium", "jupyterlab", "jupytext"):
        try:
            __import__(module)
        except ImportError:
            missing.append(f"python package {module}")
    return missing


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """URL of a JupyterLab serving a temporary copy of the notebooks (stopped afterwards)."""
    missing = _missing_browser_parts()
    if missing:
        reason = (f"browser test needs {', '.join(missing)} (apt-get install chromium "
                  "chromium-driver; pip install selenium jupyterlab jupytext)")
        if os.environ.get("JETBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; JETBOOK_REQUIRE_BROWSER=1 makes that an error")
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("lab")
    served = base / "notebooks"
    served.mkdir()
    for name in WIDGET_NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", served)
    shutil.copy(ROOT / "notebooks" / "00_welcome.py", served)
    settings = base / "app-settings"
    settings.mkdir()
    overrides = json.loads((ROOT / "binder" / "overrides.json").read_text())
    # test-only settings on top of the shipped ones: every cell in the page, no news pop-up
    overrides["@jupyterlab/notebook-extension:tracker"] = {"windowingMode": "none"}
    overrides["@jupyterlab/apputils-extension:notification"] = {"fetchNews": "false",
                                                                "checkForUpdates": False}
    (settings / "overrides.json").write_text(json.dumps(overrides))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JETBOOK_QUICK="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               JUPYTERLAB_SETTINGS_DIR=str(base / "user-settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), JUPYTER_CONFIG_DIR=str(base / "config"))
    log = open(base / "lab.log", "w")
    server = subprocess.Popen(
        [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1", f"--port={port}",
         "--allow-root", "--IdentityProvider.token=", "--ServerApp.password=",
         f"--ServerApp.root_dir={served}", f"--LabApp.app_settings_dir={settings}",
         "--LabApp.extension_manager=readonly", "--ServerApp.disable_check_xsrf=True", "--LabApp.news_url=", "--ServerApp.open_browser=False"], env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"JupyterLab did not start; see {base / 'lab.log'}") from None
                time.sleep(0.3)
        yield url
    finally:
        try:   # shuts the kernels down too, which killing the server would leave running
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/shutdown", method="POST"),
                                   timeout=10)
        except OSError:
            server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


@pytest.fixture(scope="module")
def browser(lab, tmp_path_factory):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = BROWSER
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    driver.implicitly_wait(0)
    yield driver
    driver.quit()


@pytest.fixture(scope="module")
def screenshots(tmp_path_factory):
    folder = os.environ.get("JETBOOK_SCREENSHOTS")
    path = pathlib.Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots in {path}")
    return path


def _wait(condition, timeout: float, what: str):
    """Poll `condition` until it returns something truthy. An element that JupyterLab replaced
    while it was being read (a redrawn output) counts as "not yet"."""
    from selenium.common.exceptions import StaleElementReferenceException

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = condition()
        except StaleElementReferenceException:
            value = None
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def _run_menu(driver, command: str) -> None:
    """Click Run > the menu entry of a JupyterLab command (what a student would do)."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel')][text()='Run']").click()
    _wait(lambda: driver.find_elements(By.CSS_SELECTOR, f"li.lm-Menu-item[data-command='{command}']"),
          10, f"menu entry {command}")[0].click()


def _controls(cell) -> dict:
    """Widget controls in a cell's output, by label: sliders, dropdowns, text fields, buttons."""
    from selenium.webdriver.common.by import By

    found = {}
    for control in cell.find_elements(By.CSS_SELECTOR, ".jupyter-widgets.widget-inline-hbox"):
        labels = control.find_elements(By.CSS_SELECTOR, ".widget-label")
        if labels and labels[0].text.strip():
            found[labels[0].text.strip()] = control
    for button in cell.find_elements(By.CSS_SELECTOR, "button.jupyter-button"):
        found[button.text.strip()] = button
    return found


def _tracebacks(page) -> list[str]:
    from selenium.webdriver.common.by import By

    stderr = page.find_elements(By.CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
    return [o.text for o in stderr if "Error" in o.text or "Traceback" in o.text]


def _figure(cell) -> str:
    from selenium.webdriver.common.by import By

    images = cell.find_elements(By.CSS_SELECTOR, ".widget-output img, .jupyter-widgets-output-area img")
    return images[0].get_attribute("src") if images else ""


def _move(driver, control) -> None:
    """Press a button, or move a slider one step from the keyboard."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    if control.tag_name == "button":
        control.click()
        return
    handle = control.find_element(By.CSS_SELECTOR, ".noUi-handle")
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)


@pytest.mark.parametrize("name", list(WIDGET_NOTEBOOKS))
def test_widget_runs_and_responds_in_jupyterlab(name, lab, browser, screenshots):
    from selenium.webdriver.common.by import By

    marker, labels, to_move = WIDGET_NOTEBOOKS[name]
    browser.get(f"{lab}/lab/tree/{name}.ipynb?reset")
    _wait(lambda: browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell"), 60, "the notebook")

    def widget_cells():
        return [c for c in browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")
                if marker in c.find_element(By.CSS_SELECTOR, ".jp-InputArea").get_attribute("textContent")]
    matches = _wait(widget_cells, 60, f"{name}: the cell containing {marker!r}")
    assert len(matches) == 1, f"{name}: {len(matches)} cells contain {marker!r}"
    cell = matches[0]
    cell.find_element(By.CSS_SELECTOR, ".jp-InputPrompt").click()    # select it
    _run_menu(browser, "notebook:run-all-above")
    _run_menu(browser, "notebook:run-cell")
    start = time.monotonic()
    try:   # stop at the first traceback rather than waiting out the timeout
        _wait(lambda: _tracebacks(browser) or (all(c in _controls(cell) for c in labels) and _figure(cell)),
              240, f"{name}: the widget's controls {labels} and figure")
    finally:
        browser.save_screenshot(str(screenshots / f"{name}-page.png"))
    errors = _tracebacks(browser)
    assert not errors, f"{name}: a cell failed in the browser:\n{errors[0][:2000]}"
    print(f"{name}: ran to the widget in {time.monotonic() - start:.1f} s")
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", cell)
    cell.screenshot(str(screenshots / f"{name}-1-before.png"))
    before = _wait(lambda: _figure(cell), 30, f"{name}: the figure")
    _wait(lambda: _move(browser, _controls(cell)[to_move]) or True, 30, f"{name}: moving {to_move!r}")
    _wait(lambda: _figure(cell) not in ("", before), 60, f"{name}: a new figure after moving {to_move!r}")
    cell.screenshot(str(screenshots / f"{name}-2-after.png"))


def test_py_source_opens_as_a_notebook(lab, browser, screenshots):
    """The setting in binder/ makes JupyterLab open a course .py as cells, not as text."""
    from selenium.webdriver.common.by import By

    browser.get(f"{lab}/lab/tree/00_welcome.py?reset")
    def loaded_cells():
        # the panel shows one empty cell while the file loads: wait for the file's own cells
        cells = browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")
        return cells if len(cells) > 5 else None

    cells = _wait(loaded_cells, 60, "00_welcome.py shown as more than 5 notebook cells")
    browser.save_screenshot(str(screenshots / "00_welcome-py-as-notebook.png"))
    assert not browser.find_elements(By.CSS_SELECTOR, ".jp-FileEditor")
    header = cells[0].get_attribute("textContent")
    assert "00 · Welcome" in header or "# 00" in header, f"first cell is not the header: {header[:200]!r}"
