"""Every decimal number in a lesson's prose is backed: printed by the notebook, set in its
code, or a cited literature figure (listed below with its source). A number that no output
shows is a claim the student's run may contradict (issue 23: "0.668 / 0.680 / 0.032" in the
text, "0.635 / 0.656 / 0.024" printed).

What counts as a decimal number: digits with a decimal point (0.91, 1.5, 12,000.5, 1.5e-4,
3.1x, 12.5%), in markdown cells, outside code spans and blocks, LaTeX ($...$, $$...$$), URLs,
link targets and HTML tags. Not counted: integers (12,000: counts and steps are settings),
dotted numbers (2.14.1), headings' numbers (### 4.1), numbers after "section", "table",
"figure", "eq." or "version" (references), and durations and sizes ("1.5 min", "0.5 GB":
machine-dependent estimates).

A prose number is backed when an output of the notebook shows a number that rounds to it at
the prose's precision (prose 0.89, output 0.887), signs ignored (a "drop of 0.09" is printed
-0.090); or when a code cell of the notebook holds it literally (a margin, a setting); or when
it is listed in CITED (every notebook) or CITED_IN (one notebook) with its source.

The test is enforced on the lessons listed in ENFORCED; lesson owners add theirs when their
prose passes (`pytest tests/test_prose_numbers.py -k NN` shows what is unbacked either way).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# Literature figures any lesson may quote: value -> source.
CITED = {
    # Ganin et al., JMLR 2016, Table 2 (MNIST -> MNIST-M: source only / DANN / train on target)
    "0.5225": "Ganin et al. 2016, Table 2, MNIST -> MNIST-M, source only",
    "0.7666": "Ganin et al. 2016, Table 2, MNIST -> MNIST-M, DANN",
    "0.9596": "Ganin et al. 2016, Table 2, MNIST -> MNIST-M, train on target",
    # Table 2, Syn Numbers -> SVHN
    "0.8674": "Ganin et al. 2016, Table 2, Syn Numbers -> SVHN, source only",
    "0.9109": "Ganin et al. 2016, Table 2, Syn Numbers -> SVHN, DANN",
    "0.9220": "Ganin et al. 2016, Table 2, Syn Numbers -> SVHN, train on target",
    # Table 2, SVHN -> MNIST
    "0.5490": "Ganin et al. 2016, Table 2, SVHN -> MNIST, source only",
    "0.7385": "Ganin et al. 2016, Table 2, SVHN -> MNIST, DANN",
    "0.9942": "Ganin et al. 2016, Table 2, SVHN -> MNIST, train on target",
}
# Figures quoted by one lesson only: lesson number -> {value: source}. Lesson owners add theirs.
CITED_IN: dict[str, dict[str, str]] = {}

# The lessons whose prose passes (lesson owners add theirs); the others are reported as xfail.
ENFORCED = {"01", "02", "03", "04", "05", "06"}

NUMBER_IN_PROSE = re.compile(
    r"(?<![\w.,])(?P<int>\d{1,3}(?:,\d{3})+|\d+)\.(?P<frac>\d+)(?:[eE](?P<exp>[-+−]?\d+))?"
    r"(?!\.?\d)"
)
NUMBER_IN_OUTPUT = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
NOT_PROSE = re.compile(
    r"^#{1,6}[ \t]*\d+(?:\.\d+)*"  # a heading's number: ### 4.1 The reversed sign
    r"|```.*?```"  # fenced code
    r"|`[^`\n]*`"  # code span
    r"|\$\$.*?\$\$|\$[^$\n]+\$"  # LaTeX
    r"|\\\(.*?\\\)|\\\[.*?\\\]"  # LaTeX, the other spelling
    r"|\]\([^)]*\)"  # a link's target
    r"|<[^>\n]+>"  # an HTML tag
    r"|https?://\S+",  # a bare URL
    re.DOTALL | re.MULTILINE,
)
REFERENCE_BEFORE = re.compile(
    r"(section|sec\.|§|table|figure|fig\.|eq\.|equation|chapter|version|python|torch)\s*$",
    re.IGNORECASE,
)
UNIT_AFTER = re.compile(
    r"^\s?(s(?!\.\w)|sec|seconds?|ms|min|minutes?|h|hours?|days?|[kKMGT]i?B|GHz)\b"
)


def prose_numbers(markdown: str) -> list[tuple[str, float, float]]:
    """The decimal numbers in `markdown`'s prose: (as written, value, half a unit of its last
    digit: how far an output may be from it and still round to it)."""
    text = NOT_PROSE.sub(" ", markdown)
    found = []
    for m in NUMBER_IN_PROSE.finditer(text):
        if REFERENCE_BEFORE.search(text[max(0, m.start() - 12) : m.start()]):
            continue
        if UNIT_AFTER.match(text[m.end() : m.end() + 12]):
            continue
        exponent = int((m["exp"] or "0").replace("−", "-"))
        value = float(f"{m['int'].replace(',', '')}.{m['frac']}") * 10.0**exponent
        found.append((m.group(0), value, 0.5 * 10.0 ** (exponent - len(m["frac"]))))
    return found


def output_text(nb: nbformat.NotebookNode) -> str:
    """Every text the notebook's outputs show: streams, text/plain, HTML, markdown, errors."""
    parts = []
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            parts += [output.get("text", ""), output.get("evalue", "")]
            for mime, value in output.get("data", {}).items():
                if mime.startswith("text/"):
                    parts.append(value if isinstance(value, str) else "".join(value))
    return "\n".join(parts)


def output_numbers(text: str) -> list[float]:
    return [float(n) for n in NUMBER_IN_OUTPUT.findall(text.replace(",", ""))]


def backed(value: float, half_unit: float, printed: list[float], code_tokens: set[str],
           written: str, cited: dict[str, str]) -> bool:  # fmt: skip
    """Whether a prose number is printed (to its precision), in the code, or cited."""
    if written in cited or written.replace(",", "") in code_tokens:
        return True
    tolerance = half_unit * (1 + 1e-9) + 1e-12
    return any(math.isclose(abs(value), x, abs_tol=tolerance) for x in printed)


def unbacked(nb: nbformat.NotebookNode, lesson: str = "") -> list[str]:
    """The prose numbers of `nb` that are not backed, as 'cell N: number'."""
    printed = output_numbers(output_text(nb))
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    code_tokens = set(re.findall(r"\d+\.\d+(?:[eE][-+]?\d+)?", code))
    cited = {**CITED, **CITED_IN.get(lesson, {})}
    return [
        f"cell {i}: {written}"
        for i, cell in enumerate(nb.cells)
        if cell.cell_type == "markdown"
        for written, value, half in prose_numbers(cell.source)
        if not backed(value, half, printed, code_tokens, written, cited)
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_prose_number_is_printed_set_in_code_or_cited(path):
    lesson = path.name[:2]
    problems = unbacked(nbformat.read(path, as_version=4), lesson)
    if lesson not in ENFORCED and problems:
        pytest.xfail(f"not enforced yet for lesson {lesson}; unbacked: {problems}")
    assert problems == [], (
        f"{path.name}: decimal numbers in the prose that no output shows (print them, label "
        f"them as the committed run's, or cite them in tests/test_prose_numbers.py): {problems}"
    )


def test_cited_figures_name_their_source():
    for table in (CITED, *CITED_IN.values()):
        for value, source in table.items():
            assert NUMBER_IN_PROSE.fullmatch(value) and len(source) > 10, (value, source)
    assert ENFORCED <= {p.name[:2] for p in NOTEBOOKS}


# --- the test's own tests: what counts as a decimal number, and when it is backed ----------


def written(markdown: str) -> list[str]:
    return [w for w, _, _ in prose_numbers(markdown)]


def test_what_counts_as_a_decimal_number():
    assert written("DANN 0.91 vs 0.6, ratio 3.1x, 12.5% of 12,000.5 and 1.5e-4.") == [
        "0.91", "0.6", "3.1", "12.5", "12,000.5", "1.5e-4",
    ]  # fmt: skip
    assert written("gain −0.071 ± 0.021 (s.e.), d_A of 1.968; λ≈0.69") == [
        "0.071", "0.021", "1.968", "0.69",
    ]  # fmt: skip
    assert written("ends a sentence 0.5. Then (0.25) and 0.75, 0.8; ok") == [
        "0.5", "0.25", "0.75", "0.8",
    ]  # fmt: skip


def test_what_is_not_prose_or_not_a_decimal():
    assert written("12,000 steps, 32 + 32 images, 3 seeds, 1e-3") == []
    assert written("torch 2.14.1, v0.1, Python 3.10, section 5.2, Table 2.1, eq. 10.3") == []
    assert written("about 1.5 min (0.5 GB), 2.5 s a step, 3.5 hours, took 0.5 s.") == []
    assert written("0.025 s.e., 0.5 seeds, 0.9 higher") == ["0.025", "0.5", "0.9"]
    assert written("code `lr=0.01` and\n```\nx = 0.5\n```\nmath $\\lambda = 0.1$ $$e^{0.5}$$") == []
    assert written("[link](https://x.org/v1.5/a.html) https://y.org/0.5 <img width='0.5'>") == []
    assert written("## 2. The paper's recipe\n1. first\n### 4.1 The sign 0.5") == ["0.5"]


def test_when_a_number_is_backed():
    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("MARGIN = 0.05\nprint(acc)")
    cell.outputs = [
        nbformat.v4.new_output("stream", text="target 0.887 +- 0.010, gain -0.090\n"),
        nbformat.v4.new_output("execute_result", data={"text/html": "<td>0.635</td>"}),
    ]
    nb.cells = [
        cell,
        nbformat.v4.new_markdown_cell(
            "DANN reaches 0.89 (0.887 exactly, 0.9 rounded) against 0.01 spread; a drop of "
            "0.09; the table says 0.635; margin 0.05; the paper's 0.7666."
        ),
        nbformat.v4.new_markdown_cell("But 0.668, 0.88 and 0.050 are not shown; 0.6351 neither."),
    ]
    assert unbacked(nb) == ["cell 2: 0.668", "cell 2: 0.88", "cell 2: 0.050", "cell 2: 0.6351"]
    assert unbacked(nb, "99") == unbacked(nb)
    CITED_IN["99"] = {"0.668": "an example source, for this test"}
    try:
        assert unbacked(nb, "99") == ["cell 2: 0.88", "cell 2: 0.050", "cell 2: 0.6351"]
    finally:
        del CITED_IN["99"]
