"""Open a notebook in JupyterLab in a real (headless) Chromium, Run All, and screenshot it.

    pip install playwright                     # the Python driver only; no browser download
    python scripts/browser_check.py            # notebook 03, screenshots in build/browser/
    python scripts/browser_check.py notebooks/01_sample_reweighting.ipynb --out /tmp/shots

Uses the system Chromium (Debian/Ubuntu: `apt-get install chromium`; or pass --chromium PATH).
JupyterLab runs on 127.0.0.1 on a free port with a random token, from a temporary copy of the
notebook (nothing in the repository is modified: autosave is off as well), with the quick
profile. Checks that every code cell ran (Run All stops at an error in an untagged cell), that
figures were rendered and that the notebook's slider widgets were drawn (not "Error displaying
widget"). Exit code 0 if so.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_NOTEBOOK = ROOT / "notebooks" / "03_dann_two_moons.ipynb"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
LAB_SETTINGS = {  # JupyterLab user settings for a quiet, deterministic page
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
}
CELL_STATE = """() => {
  const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')];
  return {
    cells: prompts.length,
    done: prompts.filter(p => /\\[\\d+\\]/.test(p.textContent)).length,
    busy: prompts.filter(p => p.textContent.includes('*')).length,
    images: document.querySelectorAll('.jp-OutputArea-output img').length,
    sliders: document.querySelectorAll('.jp-OutputArea-output .widget-slider').length,
    widgetErrors: [...document.querySelectorAll('.jp-OutputArea-output')]
      .filter(o => o.textContent.includes('Error displaying widget')).length,
  };
}"""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_server(url: str, process: subprocess.Popen, timeout: float = 120) -> None:
    """Poll JupyterLab's status API until it answers; RuntimeError if it exits or times out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer at {url} within {timeout:.0f} s")


def prepare(notebook: Path, work: Path) -> Path:
    """A copy of the course layout in `work`: notebooks/<copy>, data -> the real data folder."""
    (work / "notebooks").mkdir(parents=True)
    copy = work / "notebooks" / notebook.name
    shutil.copy2(notebook, copy)
    (work / "data").symlink_to(ROOT / "data", target_is_directory=True)
    settings = work / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    return copy


def start_lab(work: Path, port: int, token: str, profile: str) -> subprocess.Popen:
    """JupyterLab serving `work` on 127.0.0.1:`port`, its log in work/lab.log."""
    env = {
        **os.environ,
        "DANNLIB_PROFILE": profile,
        "OMP_WAIT_POLICY": os.environ.get("OMP_WAIT_POLICY", "PASSIVE"),
        "JUPYTERLAB_SETTINGS_DIR": str(work / "lab-settings"),
        "JUPYTERLAB_WORKSPACES_DIR": str(work / "lab-workspaces"),
    }
    env.pop("MPLBACKEND", None)  # the kernel's inline backend must draw the figures
    command = [
        sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ip=127.0.0.1",
        f"--port={port}", "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={work}", "--LabApp.expose_app_in_browser=True",
    ]  # fmt: skip
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers often run as root
        command.append("--allow-root")
    log = open(work / "lab.log", "w")  # the server writes to it until it stops
    return subprocess.Popen(command, cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)


def run_in_browser(url: str, chromium: str, out: Path, profile_dir: Path, timeout: float) -> dict:
    """Open `url`, Run All, wait until every cell ran, take screenshots; the final page state."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(profile_dir), executable_path=chromium, headless=True, args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )  # fmt: skip
        page = context.pages[0] if context.pages else context.new_page()
        page.goto(url, wait_until="domcontentloaded")
        page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
        page.wait_for_function(
            "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
            "?.status === 'idle'",
            timeout=120_000,
        )
        page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        deadline = time.monotonic() + timeout
        state = page.evaluate(CELL_STATE)
        while time.monotonic() < deadline:
            state = page.evaluate(CELL_STATE)
            if state["busy"] == 0 and state["done"] == state["cells"]:
                break
            time.sleep(1)
        page.wait_for_timeout(1500)  # let the last figures and widgets paint
        state = page.evaluate(CELL_STATE)
        out.mkdir(parents=True, exist_ok=True)
        shots = []
        figure = page.locator(".jp-OutputArea-output img").first
        if figure.count():
            figure.scroll_into_view_if_needed()
            page.screenshot(path=out / "figure.png")
            shots.append(out / "figure.png")
        slider = page.locator(".jp-OutputArea-output .widget-slider").first
        if slider.count():
            slider.scroll_into_view_if_needed()
            button = page.locator(".jp-OutputArea-output button", has_text="Run Interact").first
            if button.count():  # interact_manual: draw the figure once, as a student would
                before = state["images"]
                button.click()
                images = "document.querySelectorAll('.jp-OutputArea-output img').length"
                page.wait_for_function(f"() => {images} > {before}", timeout=timeout * 1000)
                state["interact_figure"] = True
            slider.scroll_into_view_if_needed()
            page.mouse.wheel(0, 200)  # the widget and the figure under it
            page.wait_for_timeout(1000)
            page.screenshot(path=out / "slider.png")
            shots.append(out / "slider.png")
        page.screenshot(path=out / "page.png")
        shots.append(out / "page.png")
        state["screenshots"] = [str(s) for s in shots]
        context.close()
    return state


def main(argv: list[str] | None = None) -> int:
    """Run the check; print what was seen; exit 1 if anything is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebook", nargs="?", type=Path, default=DEFAULT_NOTEBOOK)
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "browser")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--profile", default="quick", help="DANNLIB_PROFILE for the kernel")
    parser.add_argument("--timeout", type=float, default=300, help="seconds for Run All")
    args = parser.parse_args(argv)
    if not Path(args.chromium).is_file():
        parser.error(f"no Chromium at {args.chromium}: install it (apt-get install chromium) "
                     "or pass --chromium PATH")  # fmt: skip
    nb = nbformat.read(args.notebook, as_version=4)
    wants_slider = any("interact" in c.source for c in nb.cells if c.cell_type == "code")
    token, port = secrets.token_hex(16), free_port()
    with tempfile.TemporaryDirectory(prefix="dann-browser-") as tmp:
        work = Path(tmp)
        copy = prepare(args.notebook.resolve(), work)
        lab = start_lab(work, port, token, args.profile)
        try:
            wait_for_server(f"http://127.0.0.1:{port}/api/status?token={token}", lab)
            url = f"http://127.0.0.1:{port}/lab/tree/notebooks/{copy.name}?token={token}"
            state = run_in_browser(url, args.chromium, args.out, work / "chromium", args.timeout)
        except RuntimeError as err:
            log = (work / "lab.log").read_text(errors="replace").splitlines()[-15:]
            print(f"error: {err}; the end of the JupyterLab log:", *log, sep="\n", file=sys.stderr)
            return 1
        finally:
            lab.terminate()
            try:
                lab.wait(timeout=20)
            except subprocess.TimeoutExpired:
                lab.kill()
    problems = []
    if state["done"] != state["cells"]:
        problems.append(f"only {state['done']} of {state['cells']} code cells ran")
    if not state["images"]:
        problems.append("no figures were rendered")
    if wants_slider and not state["sliders"]:
        problems.append("the notebook uses interact but no slider was drawn")
    if state["widgetErrors"]:
        problems.append(f"{state['widgetErrors']} widget(s) failed to display")
    manual = ", Run Interact drew a figure" if state.get("interact_figure") else ""
    print(f"{args.notebook.name}: {state['done']}/{state['cells']} code cells ran, "
          f"{state['images']} figures, {state['sliders']} sliders{manual}")  # fmt: skip
    print("screenshots: " + ", ".join(state["screenshots"]))
    for problem in problems:
        print(f"problem: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
