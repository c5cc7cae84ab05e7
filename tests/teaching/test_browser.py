"""The widgets in a real browser: a Jupyter server on localhost, driven by headless Chromium.

Which frontend runs follows the installed ipywidgets, because each major version only renders
in its own: ipywidgets 8 in JupyterLab 4 (Binder, a local `pip install jetbook[lab]`), ipywidgets
7 (Colab's pin) in the classic Notebook 6.5 with widgetsnbextension, the frontend nearest Colab's
that runs here. CI runs the suite once in each environment, so both are covered. Everything a
frontend does differently (server command line, opening a notebook, running cells, finding a
cell's output, controls, figures and tracebacks) is in one small adapter class per frontend;
the test body is shared.

One server (a temporary copy of the notebooks, token off, quick mode, this checkout on
PYTHONPATH) serves every page. For each widget notebook the test runs the cells up to the
widget's, checks its controls are on the page, moves one and waits for a new figure, and saves
screenshots (in $JETBOOK_SCREENSHOTS, else a pytest temporary folder). In JupyterLab a `.py`
source must also open as a notebook through the setting shipped in `binder/`.

Needs Debian's `chromium` and `chromium-driver`, the Python package `selenium` and the
frontend's packages. Without them the test is skipped with the reason, unless
JETBOOK_REQUIRE_BROWSER=1 (set by `.ci/run`), which turns a missing part into a failure.
"""
import importlib.metadata
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

ROOT = pathlib.Path(__file__).resolve().parents[2]
BROWSER = "/usr/bin/chromium"
DRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,2000")
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


def _by():
    from selenium.webdriver.common.by import By
    return By


def _wait(condition, timeout: float, what: str):
    """Poll `condition` until it returns something truthy. An element that the frontend
    replaced while it was being read (a redrawn output) counts as "not yet"."""
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


def _text_errors(outputs) -> list[str]:
    return [o.text for o in outputs if "Error" in o.text or "Traceback" in o.text]


class JupyterLab:
    """JupyterLab 4 with ipywidgets 8 (jupyterlab_widgets): Binder's and a local install's."""

    name = "JupyterLab 4"
    packages = ("selenium", "jupyterlab", "jupytext")
    slider_handle = ".noUi-handle"            # ipywidgets 8 draws sliders with noUiSlider

    def server(self, port: int, served: pathlib.Path, base: pathlib.Path) -> tuple[list, dict]:
        """Command line and environment: the shipped binder/ settings plus test-only ones."""
        shutil.copy(ROOT / "notebooks" / "00_welcome.py", served)
        settings = base / "app-settings"
        settings.mkdir()
        overrides = json.loads((ROOT / "binder" / "overrides.json").read_text())
        # every cell in the page (no virtual scrolling), no news pop-up
        overrides["@jupyterlab/notebook-extension:tracker"] = {"windowingMode": "none"}
        overrides["@jupyterlab/apputils-extension:notification"] = {"fetchNews": "false",
                                                                    "checkForUpdates": False}
        (settings / "overrides.json").write_text(json.dumps(overrides))
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
                   f"--port={port}", "--allow-root", "--IdentityProvider.token=",
                   "--ServerApp.password=", f"--ServerApp.root_dir={served}",
                   f"--LabApp.app_settings_dir={settings}", "--LabApp.extension_manager=readonly",
                   "--ServerApp.disable_check_xsrf=True", "--LabApp.news_url=",
                   "--ServerApp.open_browser=False"]
        env = {"JUPYTERLAB_SETTINGS_DIR": str(base / "user-settings"),
               "JUPYTERLAB_WORKSPACES_DIR": str(base / "workspaces")}
        return command, env

    def open(self, driver, url: str, name: str) -> None:
        driver.get(f"{url}/lab/tree/{name}.ipynb?reset")
        _wait(lambda: driver.find_elements(_by().CSS_SELECTOR, ".jp-Notebook .jp-Cell"), 60,
              f"{name}: the notebook")

    def cells_containing(self, driver, marker: str) -> list:
        By = _by()
        return [c for c in driver.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-CodeCell")
                if marker in c.find_element(By.CSS_SELECTOR, ".jp-InputArea").get_attribute("textContent")]

    def run_up_to_and_including(self, driver, cell) -> None:
        """Select the cell, then Run > Run All Above and Run > Run Selected Cell, as a student would."""
        cell.find_element(_by().CSS_SELECTOR, ".jp-InputPrompt").click()
        self._run_menu(driver, "notebook:run-all-above")
        self._run_menu(driver, "notebook:run-cell")

    def _run_menu(self, driver, command: str) -> None:
        By = _by()
        driver.find_element(By.XPATH, "//div[contains(@class,'lm-MenuBar-itemLabel')][text()='Run']").click()
        _wait(lambda: driver.find_elements(By.CSS_SELECTOR, f"li.lm-Menu-item[data-command='{command}']"),
              10, f"menu entry {command}")[0].click()

    def tracebacks(self, driver) -> list[str]:
        # JupyterLab renders an exception, like stderr, as application/vnd.jupyter.stderr
        return _text_errors(driver.find_elements(
            _by().CSS_SELECTOR, ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"))


class ClassicNotebook:
    """The classic Notebook 6.5 with ipywidgets 7.7 (widgetsnbextension 3.6): Colab's widget
    version, in the frontend nearest Colab's that runs outside Google. It serves the committed
    `.ipynb` files, so it needs no jupytext."""

    name = "classic Notebook 6.5"
    packages = ("selenium", "notebook", "widgetsnbextension")
    slider_handle = ".ui-slider-handle"       # ipywidgets 7 draws sliders with jQuery UI

    def server(self, port: int, served: pathlib.Path, base: pathlib.Path) -> tuple[list, dict]:
        command = [sys.executable, "-m", "notebook", "--no-browser", "--ip=127.0.0.1",
                   f"--port={port}", "--allow-root", "--NotebookApp.token=",
                   "--NotebookApp.password=", f"--NotebookApp.notebook_dir={served}",
                   "--NotebookApp.disable_check_xsrf=True", "--NotebookApp.open_browser=False"]
        return command, {}

    def open(self, driver, url: str, name: str) -> None:
        """Open the notebook and wait until the kernel is connected and the widget extension has
        registered its comm target: a cell run before that would create widgets the page
        never receives."""
        driver.get(f"{url}/notebooks/{name}.ipynb")
        state = ("var nb = window.Jupyter && Jupyter.notebook;"
                 "if (!nb || !nb._fully_loaded || !nb.kernel || !nb.kernel.is_connected()) return null;"
                 "var ext = (nb.config.data.load_extensions || {})['jupyter-js-widgets/extension'];"
                 "return {ext: !!ext, target: !!nb.kernel.comm_manager.targets['jupyter.widget']};")
        ready = _wait(lambda: driver.execute_script(state), 60, f"{name}: the notebook and its kernel")
        assert ready["ext"], ("the classic Notebook does not load jupyter-js-widgets/extension: "
                              "jupyter nbextension enable --py widgetsnbextension --sys-prefix")
        _wait(lambda: driver.execute_script(state)["target"], 30,
              f"{name}: the widget extension's comm target 'jupyter.widget'")

    def cells_containing(self, driver, marker: str) -> list:
        # the notebook's own cell list: CodeMirror 5 need not have every line in the DOM
        return driver.execute_script(
            "var marker = arguments[0];"
            "return Jupyter.notebook.get_cells().filter(function (c) {"
            "  return c.cell_type === 'code' && c.get_text().indexOf(marker) >= 0;"
            "}).map(function (c) { return c.element[0]; });", marker)

    def run_up_to_and_including(self, driver, cell) -> None:
        """Select the cell, Cell > Run All Above, select it again (Run All Above leaves the cell
        above it selected), Cell > Run Cells."""
        for entry in ("run_all_cells_above", "run_cell"):
            cell.find_element(_by().CSS_SELECTOR, ".input_prompt").click()
            self._cell_menu(driver, entry)

    def _cell_menu(self, driver, entry: str) -> None:
        By = _by()
        driver.find_element(By.ID, "celllink").click()
        _wait(lambda: [e for e in driver.find_elements(By.CSS_SELECTOR, f"#{entry} > a") if e.is_displayed()],
              10, f"menu entry Cell > {entry}")[0].click()

    def tracebacks(self, driver) -> list[str]:
        return _text_errors(driver.find_elements(
            _by().CSS_SELECTOR, ".output_subarea.output_error, .output_subarea.output_stderr"))


def _frontend():
    """The frontend that renders the installed ipywidgets."""
    try:
        major = int(importlib.metadata.version("ipywidgets").split(".")[0])
    except importlib.metadata.PackageNotFoundError:
        major = 8
    return JupyterLab() if major >= 8 else ClassicNotebook()


FRONTEND = _frontend()


def _missing_browser_parts() -> list[str]:
    missing = [path for path in (BROWSER, DRIVER) if not os.access(path, os.X_OK)]
    for module in FRONTEND.packages:
        try:
            __import__(module)
        except ImportError:
            missing.append(f"python package {module}")
    if isinstance(FRONTEND, ClassicNotebook) and "python package notebook" not in missing:
        version = importlib.metadata.version("notebook")
        if int(version.split(".")[0]) >= 7:   # Notebook 7 is JupyterLab inside: no ipywidgets 7
            missing.append(f"the classic notebook<7 (found notebook {version})")
    return missing


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """URL of a Jupyter server of FRONTEND's kind serving a temporary copy of the notebooks
    (stopped afterwards, with its kernels)."""
    missing = _missing_browser_parts()
    if missing:
        reason = (f"browser test in the {FRONTEND.name} needs {', '.join(missing)} (apt-get install "
                  f"chromium chromium-driver; pip install {' '.join(FRONTEND.packages)})")
        if os.environ.get("JETBOOK_REQUIRE_BROWSER") == "1":
            pytest.fail(reason + "; JETBOOK_REQUIRE_BROWSER=1 makes that an error")
        pytest.skip(reason)
    base = tmp_path_factory.mktemp("jupyter")
    served = base / "notebooks"
    served.mkdir()
    for name in WIDGET_NOTEBOOKS:
        shutil.copy(ROOT / "notebooks" / f"{name}.ipynb", served)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    command, frontend_env = FRONTEND.server(port, served, base)
    env = dict(os.environ, JETBOOK_QUICK="1",
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               JUPYTER_RUNTIME_DIR=str(base / "runtime"), JUPYTER_CONFIG_DIR=str(base / "config"),
               **frontend_env)
    log = open(base / "server.log", "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{url}/api/status", timeout=2)
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {FRONTEND.name} did not start; see {base / 'server.log'}") from None
                time.sleep(0.3)
        print(f"\n{FRONTEND.name} at {url}, log in {base / 'server.log'}")
        yield url
    finally:
        try:   # shuts the kernels down too, which killing the server would leave running
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/shutdown", method="POST"),
                                   timeout=10)
        except OSError:
            process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


def _stop_kernels(url: str) -> None:
    """Each notebook's kernel holds JAX and its compiled code: stop it once its test is done,
    so five of them do not pile up on a small machine."""
    try:
        with urllib.request.urlopen(f"{url}/api/kernels", timeout=10) as response:
            kernels = json.load(response)
        for kernel in kernels:
            urllib.request.urlopen(urllib.request.Request(f"{url}/api/kernels/{kernel['id']}",
                                                          method="DELETE"), timeout=30)
    except OSError:
        pass


@pytest.fixture(scope="module")
def browser(server, tmp_path_factory):
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


# Both ipywidgets 7 and 8 give a labelled control and the figure's Image widget the classes
# below; only the slider's handle differs.
def _controls(cell) -> dict:
    """Widget controls in a cell's output, by label: sliders, dropdowns, text fields, buttons."""
    By = _by()
    found = {}
    for control in cell.find_elements(By.CSS_SELECTOR, ".jupyter-widgets.widget-inline-hbox"):
        labels = control.find_elements(By.CSS_SELECTOR, ".widget-label")
        if labels and labels[0].text.strip():
            found[labels[0].text.strip()] = control
    for button in cell.find_elements(By.CSS_SELECTOR, "button.jupyter-button"):
        found[button.text.strip()] = button
    return found


def _figure(cell) -> str:
    """The figure's address: a new blob: URL each time the kernel sends a new PNG."""
    images = [i for i in cell.find_elements(_by().CSS_SELECTOR, "img.widget-image") if i.is_displayed()]
    return images[0].get_attribute("src") if images else ""


def _move(control) -> None:
    """Press a button, or move a slider one step from the keyboard."""
    from selenium.webdriver.common.keys import Keys

    if control.tag_name == "button":
        control.click()
        return
    handle = control.find_element(_by().CSS_SELECTOR, FRONTEND.slider_handle)
    handle.click()
    handle.send_keys(Keys.ARROW_RIGHT)


@pytest.mark.parametrize("name", list(WIDGET_NOTEBOOKS))
def test_widget_runs_and_responds_in_the_browser(name, server, browser, screenshots):
    marker, labels, to_move = WIDGET_NOTEBOOKS[name]
    FRONTEND.open(browser, server, name)
    matches = _wait(lambda: FRONTEND.cells_containing(browser, marker), 60,
                    f"{name}: the cell containing {marker!r}")
    assert len(matches) == 1, f"{name}: {len(matches)} cells contain {marker!r}"
    cell = matches[0]
    try:
        FRONTEND.run_up_to_and_including(browser, cell)
        start = time.monotonic()
        try:   # stop at the first traceback rather than waiting out the timeout
            _wait(lambda: FRONTEND.tracebacks(browser)
                  or (all(c in _controls(cell) for c in labels) and _figure(cell)),
                  240, f"{name}: the widget's controls {labels} and figure")
        except AssertionError as timeout:   # say what the cell shows instead
            shown = browser.execute_script("return arguments[0].innerText;", cell)
            raise AssertionError(f"{timeout}; the cell shows:\n{shown[-3000:]}") from None
        finally:
            browser.save_screenshot(str(screenshots / f"{name}-page.png"))
        errors = FRONTEND.tracebacks(browser)
        assert not errors, f"{name}: a cell failed in the {FRONTEND.name}:\n{errors[0][:2000]}"
        print(f"{name}: ran to the widget in {time.monotonic() - start:.1f} s ({FRONTEND.name})")
        browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", cell)
        cell.screenshot(str(screenshots / f"{name}-1-before.png"))
        before = _wait(lambda: _figure(cell), 30, f"{name}: the figure")
        _wait(lambda: _move(_controls(cell)[to_move]) or True, 30, f"{name}: moving {to_move!r}")
        _wait(lambda: _figure(cell) not in ("", before), 60, f"{name}: a new figure after moving {to_move!r}")
        cell.screenshot(str(screenshots / f"{name}-2-after.png"))
    finally:
        _stop_kernels(server)


@pytest.mark.skipif(not isinstance(FRONTEND, JupyterLab),
                    reason="binder/overrides.json is a JupyterLab setting (Binder opens JupyterLab)")
def test_py_source_opens_as_a_notebook(server, browser, screenshots):
    """The setting in binder/ makes JupyterLab open a course .py as cells, not as text."""
    By = _by()
    browser.get(f"{server}/lab/tree/00_welcome.py?reset")

    def loaded_cells():
        # the panel shows one empty cell while the file loads: wait for the file's own cells
        cells = browser.find_elements(By.CSS_SELECTOR, ".jp-Notebook .jp-Cell")
        return cells if len(cells) > 5 else None

    cells = _wait(loaded_cells, 60, "00_welcome.py shown as more than 5 notebook cells")
    browser.save_screenshot(str(screenshots / "00_welcome-py-as-notebook.png"))
    assert not browser.find_elements(By.CSS_SELECTOR, ".jp-FileEditor")
    header = cells[0].get_attribute("textContent")
    assert "00 · Welcome" in header or "# 00" in header, f"first cell is not the header: {header[:200]!r}"
