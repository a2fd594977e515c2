"""Open each lesson in JupyterLab in a real (headless) Chromium, Run All, and record what happened.

    pip install playwright                     # the Python driver only; no browser download
    python scripts/browser_check.py            # every lesson; screenshots in build/browser/
    python scripts/browser_check.py notebooks/03_dann_two_moons.ipynb --record result.json
    python scripts/browser_check.py notebooks/04_mnist_to_mnistm.ipynb --compare-runner

Uses the system Chromium (Debian/Ubuntu: `apt-get install chromium`; or pass --chromium PATH).
JupyterLab runs on 127.0.0.1 on a free port with a random token, from temporary copies of the
notebooks in the course's layout (notebooks/ beside a link to the data/ folder of the
notebooks' own checkout; nothing in the repository is modified: autosave is off as well), with
the quick profile. For each lesson it checks that no saved widget shows "Error displaying
widget" when the notebook opens, that every code cell ran (Run All stops at an error in an
untagged cell; a stub tagged raises-exception counts when it raised), that figures were
rendered, and that the sliders were drawn and Run Interact drew a figure. A last cell, added
to the copy only, prints where the kernel ran: Python environment, the dannlib it imports (it
must be the notebook's own checkout's), data folder, DANNLIB_/OMP_ variables, threads,
versions. --compare-runner also executes the same copy with `dann course`'s runner
(papermill) and names every difference between the two kernels.
Exit code 0 if all is well.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
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
  const code = (window.jupyterapp?.shell?.currentWidget?.content?.widgets || [])
    .filter(w => w.model.type === 'code');
  const tagged = w => (w.model.getMetadata('tags') || []).includes('raises-exception');
  const errored = w => w.model.outputs.toJSON().some(o => o.output_type === 'error');
  return {
    cells: code.length,
    done: code.filter(w => w.model.executionCount !== null || (tagged(w) && errored(w))).length,
    stopper: code.some(w => !tagged(w) && errored(w)),
    busy: prompts.filter(p => p.textContent.includes('*')).length
      + (window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel?.status
         === 'idle' ? 0 : 1),
    errors: [...document.querySelectorAll('.jp-OutputArea-output')]
      .map(o => o.textContent).filter(t => /Traceback|Error:/.test(t))
      .map(t => t.trim().split(String.fromCharCode(10)).slice(-1)[0].slice(0, 200)),
    images: document.querySelectorAll('.jp-OutputArea-output img').length,
    sliders: document.querySelectorAll('.jp-OutputArea-output .widget-slider').length,
    widgetErrors: [...document.querySelectorAll('.jp-OutputArea-output')]
      .filter(o => o.textContent.includes('Error displaying widget')).length,
    probe: [...document.querySelectorAll('.jp-OutputArea-output')]
      .map(o => o.textContent).find(t => t.includes('KERNEL-PROBE ')) || null,
  };
}"""
PROBE_TAG = "KERNEL-PROBE "
IDLE_S = 10  # after an error, nothing queued or running for this long: Run All has stopped
# (without an error, the check waits for every cell: the page can look idle for a moment
# under load while the kernel is still busy, as one run on a loaded machine showed)
PROBE = f'''# browser check: where this kernel runs (added to the temporary copy only)
import json as _json, os as _os, sys as _sys
import dannlib as _dannlib, matplotlib as _mpl, numpy as _np, torch as _torch
from dannlib.config import data_root as _data_root
_env = {{k: v for k, v in sorted(_os.environ.items())
        if k.startswith(("DANNLIB_", "OMP_", "MKL_", "PYTHONHASHSEED", "MPLBACKEND"))}}
print("{PROBE_TAG}" + _json.dumps({{
    "prefix": _sys.prefix, "dannlib": _os.path.dirname(_dannlib.__file__),
    "cwd": _os.path.basename(_os.getcwd()), "data": str(_data_root().resolve()),
    "env": _env, "torch_threads": _torch.get_num_threads(), "mpl_backend": _mpl.get_backend(),
    "versions": {{"torch": _torch.__version__, "numpy": _np.__version__}},
}}))'''


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


def checkout_of(notebook: Path) -> Path:
    """The course checkout holding `notebook` (its notebooks/ folder's parent), else ROOT."""
    folder = notebook.resolve().parent.parent
    return folder if (folder / "data").is_dir() and (folder / "dannlib").is_dir() else ROOT


def prepare(notebooks: list[Path], work: Path) -> list[Path]:
    """Copies in the course layout in `work`: notebooks/<copy + probe cell>, data -> the
    data/ folder of the notebooks' own checkout (what `dann course` there reads)."""
    (work / "notebooks").mkdir(parents=True)
    (work / "data").symlink_to(checkout_of(notebooks[0]) / "data", target_is_directory=True)
    copies = []
    for notebook in notebooks:
        nb = nbformat.read(notebook, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(PROBE))
        nbformat.write(nb, work / "notebooks" / notebook.name)
        copies.append(work / "notebooks" / notebook.name)
    settings = work / "lab-settings"
    for name, values in LAB_SETTINGS.items():
        (settings / name).parent.mkdir(parents=True, exist_ok=True)
        (settings / name).write_text(json.dumps(values))
    return copies


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


def shut_down_kernels(base: str, token: str) -> None:
    """Delete every session (and so its kernel) of the JupyterLab server at `base`."""
    with urllib.request.urlopen(f"{base}/api/sessions?token={token}", timeout=10) as response:
        sessions = json.load(response)
    for session in sessions:
        url = f"{base}/api/sessions/{session['id']}?token={token}"
        urllib.request.urlopen(urllib.request.Request(url, method="DELETE"), timeout=30).close()


def run_in_browser(context, url: str, out: Path, timeout: float) -> dict:
    """Open `url`, Run All, wait until every cell ran, take screenshots; the final page state."""
    page = context.new_page()
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector(".jp-Notebook .jp-CodeCell", timeout=120_000)
    page.wait_for_function(
        "() => window.jupyterapp?.shell?.currentWidget?.sessionContext?.session?.kernel"
        "?.status === 'idle'",
        timeout=120_000,
    )
    on_open = page.evaluate(CELL_STATE)["widgetErrors"]  # saved widget views without state
    start = idle_since = time.monotonic()
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    while time.monotonic() - start < timeout:
        state = page.evaluate(CELL_STATE)
        if state["busy"]:
            idle_since = time.monotonic()
        elif state["done"] == state["cells"]:
            break  # every cell ran
        elif state["stopper"] and time.monotonic() - idle_since > IDLE_S:
            break  # Run All stopped at an error in an untagged cell (nothing queued)
        time.sleep(1)
    seconds = time.monotonic() - start
    page.wait_for_timeout(1500)  # let the last figures and widgets paint
    state = {**page.evaluate(CELL_STATE), "widget_errors_on_open": on_open, "seconds": seconds}
    out.mkdir(parents=True, exist_ok=True)
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
    page.screenshot(path=out / "page.png")
    page.close()
    return state


def problems_of(state: dict, wants_slider: bool, checkout: Path) -> list[str]:
    """What went wrong in one notebook's browser run (empty if nothing)."""
    problems = []
    kernel = probe_of(state["probe"])
    if kernel and Path(kernel["dannlib"]).resolve() != (checkout / "dannlib").resolve():
        problems.append(
            f"the kernel imports dannlib from {kernel['dannlib']}, not from the notebook's "
            f"checkout {checkout}: run the check with that checkout's Python"
        )
    if state["widget_errors_on_open"]:
        problems.append(f"{state['widget_errors_on_open']} saved widget(s) fail when opened")
    if state["done"] != state["cells"]:
        problems.append(f"only {state['done']} of {state['cells']} code cells ran")
    if not state["images"]:
        problems.append("no figures were rendered")
    if wants_slider and not state["sliders"]:
        problems.append("the notebook uses interact but no slider was drawn")
    if wants_slider and not state.get("interact_figure"):
        problems.append("Run Interact drew no figure")
    if state["widgetErrors"]:
        problems.append(f"{state['widgetErrors']} widget(s) failed to display")
    return problems


def probe_of(text: str | None) -> dict | None:
    """The kernel description printed by the probe cell, or None."""
    if not text or PROBE_TAG not in text:
        return None
    return json.loads(text.split(PROBE_TAG, 1)[1].strip().splitlines()[0])


def runner_result(copy: Path, work: Path, profile: str, browser_kernel: dict | None) -> dict:
    """Execute `copy` as `dann course` does; its status and how its kernel differs."""
    from dannlib.course import run_notebook

    run = run_notebook(copy, work / "runner" / copy.name, profile)
    kernel = None
    if run.output.is_file():
        cell = nbformat.read(run.output, as_version=4).cells[-1]
        kernel = probe_of("".join(o.get("text", "") for o in cell.get("outputs", [])))
    differences = {}
    if kernel and browser_kernel:
        for key in sorted(kernel.keys() | browser_kernel.keys()):
            if kernel.get(key) != browser_kernel.get(key):
                differences[key] = {"browser": browser_kernel.get(key), "runner": kernel.get(key)}
    return {"status": run.status, "seconds": round(run.seconds, 1), "error": run.error,
            "kernel_differences": differences}  # fmt: skip


def versions(chromium: str) -> dict:
    """Versions of what the check ran with."""
    from importlib.metadata import version

    found = subprocess.run([chromium, "--version"], capture_output=True, text=True, timeout=60)
    return {
        "python": platform.python_version(),
        "chromium": found.stdout.strip(),
        **{name: version(name) for name in ("jupyterlab", "ipywidgets", "playwright")},
    }


def check_all(args, notebooks: list[Path], work: Path) -> list[dict]:
    """Run every notebook in the browser (one JupyterLab, one Chromium); one record each."""
    from playwright.sync_api import sync_playwright

    copies = prepare(notebooks, work)
    token, port = secrets.token_hex(16), free_port()
    base = f"http://127.0.0.1:{port}"
    lab = start_lab(work, port, token, args.profile)
    records = []
    try:
        wait_for_server(f"{base}/api/status?token={token}", lab)
        with sync_playwright() as p:
            context = p.chromium.launch_persistent_context(
                str(work / "chromium"), executable_path=args.chromium, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000},
            )  # fmt: skip
            for notebook, copy in zip(notebooks, copies, strict=True):
                # a fresh workspace per notebook, so only this one is open in the page
                url = f"{base}/lab/workspaces/{copy.stem}/tree/notebooks/{copy.name}"
                url += f"?reset&token={token}"
                state = run_in_browser(context, url, args.out / copy.stem, args.timeout)
                shut_down_kernels(base, token)
                wants_slider = "interact" in notebook.read_text(encoding="utf-8")
                record = {
                    "notebook": notebook.name,
                    "problems": problems_of(state, wants_slider, checkout_of(notebook)),
                    "cells": f"{state['done']}/{state['cells']}",
                    "figures": state["images"],
                    "sliders": state["sliders"],
                    "interact_figure": bool(state.get("interact_figure")),
                    "errors_shown": state["errors"],
                    "seconds": round(state["seconds"], 1),
                    "kernel": probe_of(state["probe"]),
                }
                if args.compare_runner:
                    record["runner"] = runner_result(copy, work, args.profile, record["kernel"])
                records.append(record)
                print(summary_line(record), flush=True)
            context.close()
    finally:
        lab.terminate()
        try:
            lab.wait(timeout=20)
        except subprocess.TimeoutExpired:
            lab.kill()
    return records


def summary_line(record: dict) -> str:
    """One line per notebook for the terminal."""
    status = "ok" if not record["problems"] else "FAILED: " + "; ".join(record["problems"])
    line = (
        f"{record['notebook']}: {status} ({record['cells']} cells, {record['figures']} figures, "
        f"{record['sliders']} sliders, {record['seconds']:.0f} s)"
    )
    if "runner" in record:
        runner = record["runner"]
        differs = ", ".join(runner["kernel_differences"]) or "nothing"
        line += f"; dann course's runner: {runner['status']} ({runner['error'] or 'no error'}), "
        line += f"kernels differ in: {differs}"
    return line


def main(argv: list[str] | None = None) -> int:
    """Run the check; print one line per notebook; exit 1 if anything is missing."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: every lesson")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "browser")
    parser.add_argument("--record", type=Path, help="write the results as JSON here")
    parser.add_argument("--chromium", default=shutil.which("chromium") or "/usr/bin/chromium")
    parser.add_argument("--profile", default="quick", help="DANNLIB_PROFILE for the kernel")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for Run All")
    parser.add_argument(
        "--compare-runner", action="store_true",
        help="also run each notebook as `dann course` does and compare the kernels",
    )  # fmt: skip
    args = parser.parse_args(argv)
    if not Path(args.chromium).is_file():
        parser.error(f"no Chromium at {args.chromium}: install it (apt-get install chromium) "
                     "or pass --chromium PATH")  # fmt: skip
    notebooks = [p.resolve() for p in args.notebooks] or sorted(
        (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    )
    with tempfile.TemporaryDirectory(prefix="dann-browser-") as tmp:
        try:
            records = check_all(args, notebooks, Path(tmp))
        except RuntimeError as err:
            log = (Path(tmp) / "lab.log").read_text(errors="replace").splitlines()[-15:]
            print(f"error: {err}; the end of the JupyterLab log:", *log, sep="\n", file=sys.stderr)
            return 1
    failed = [r for r in records if r["problems"] or r.get("runner", {}).get("status") == "failed"]
    if args.record:
        result = {
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "profile": args.profile,
            "versions": versions(args.chromium),
            "passed": len(records) - len(failed),
            "notebooks": records,
        }
        args.record.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"{len(records) - len(failed)} of {len(records)} notebooks passed; screenshots in "
          f"{args.out}")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
