"""A submitted notebook, repaired to the instructor's cells before it runs.

nbgrader's ClearOutput, DeduplicateIds, OverwriteCells and its re-insertion of deleted cells,
done on the gradebook's copy of the cells (:class:`~.protocol.SourceCell`), never on what the
submission says about itself: a locked or test cell is rebuilt whole (source, type, metadata,
tags: a student's ``skip-execution`` tag does not survive), an answer cell keeps only its
source. Test cells keep only their visible part: hidden tests never enter the sandbox.
"""

from __future__ import annotations

import json
import math

from .protocol import SourceCell


def public_source(source: str) -> str:
    """A test cell's source without its ``### BEGIN/END HIDDEN TESTS`` regions."""
    out, inside = [], False
    for line in source.split("\n"):
        if "BEGIN HIDDEN TESTS" in line:
            inside = True
        elif "END HIDDEN TESTS" in line:
            inside = False
        elif not inside:
            out.append(line)
    return "\n".join(out).strip("\n")


def _visible(source: str) -> str:
    """Visible source with blank lines and trailing spaces ignored (to spot edits)."""
    return "\n".join(ln.rstrip() for ln in public_source(source).split("\n") if ln.strip())


def _nbg(cell) -> dict:
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return meta if isinstance(meta, dict) else {}


def restore_cell(sc: SourceCell):
    """The instructor's cell, as released (test cells without their hidden part)."""
    from nbformat.v4 import new_code_cell, new_markdown_cell

    meta = {"nbgrader": {"grade": sc.grade, "grade_id": sc.name, "locked": sc.locked,
                         "solution": sc.solution, "checksum": sc.checksum,
                         "schema_version": 3, "cell_type": sc.cell_type}}
    if sc.grade:
        meta["nbgrader"]["points"] = sc.points
    if sc.task:
        meta["nbgrader"]["task"] = True
    source = public_source(sc.source) if sc.is_test else sc.source
    if sc.cell_type == "code":
        return new_code_cell(source=source, metadata=meta)
    return new_markdown_cell(source=source, metadata=meta)


def claimed_score(cell) -> float | None:
    """The score a submitted test cell's own output shows (its numeric result), or None."""
    for out in cell.get("outputs", []) or []:
        if isinstance(out, dict) and out.get("output_type") == "execute_result":
            text = (out.get("data") or {}).get("text/plain", "")
            text = "".join(text) if isinstance(text, list) else str(text)
            try:
                value = float(text.strip())
            except ValueError:
                return None
            return value if math.isfinite(value) else None
    return None


def _dedupe(cells: list, by_name: dict, notes: list) -> None:
    # duplicates: keep the last copy (nbgrader's DeduplicateIds), demote the others
    seen = set()
    for cell in reversed(cells):
        gid = _nbg(cell).get("grade_id")
        if gid is None:
            continue
        if gid in seen or gid not in by_name:
            cell.metadata.pop("nbgrader", None)
            # the grade id is the student's text: repr() keeps newlines and escapes out of tables
            notes.append(f"duplicate cell {gid}" if gid in seen
                         else f"unknown cell id {str(gid)[:40]!r}")
        else:
            seen.add(gid)


def _reinsert(out: list, source_cells: tuple, notes: list) -> None:
    # deleted instructor cells come back after their predecessor in source order
    present = {_nbg(c).get("grade_id") for c in out}
    for i, sc in enumerate(source_cells):
        if sc.name in present or not (sc.grade or sc.locked or sc.task):
            continue
        notes.append(f"restored deleted cell {sc.name}")
        pos = 0
        for prev in reversed(source_cells[:i]):
            idx = [k for k, c in enumerate(out) if _nbg(c).get("grade_id") == prev.name]
            if idx:
                pos = idx[0] + 1
                break
        out.insert(pos, restore_cell(sc))
        present.add(sc.name)


def sanitize(nb, source_cells: tuple) -> tuple:
    """Restore the instructor's cells in a submitted notebook.

    Parameters
    ----------
    nb : nbformat.NotebookNode
        The submission (modified in place and returned).
    source_cells : tuple of SourceCell
        The gradebook's nbgrader cells in source order.

    Returns
    -------
    nb, notes, claims : the sanitized notebook, what was repaired, and the scores the
    submission's own test-cell outputs show (grade id -> value).
    """
    from nbformat.v4 import new_code_cell, new_markdown_cell

    notes, claims = [], {}
    by_name = {c.name: c for c in source_cells}
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    cells = [c for c in nb.cells if c.get("cell_type") in ("code", "markdown", "raw")]
    _dedupe(cells, by_name, notes)
    out = []
    for cell in cells:
        sc = by_name.get(_nbg(cell).get("grade_id"))
        if sc is not None and sc.is_test and cell.cell_type == "code":
            claim = claimed_score(cell)
            if claim is not None:
                claims[sc.name] = claim
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        if sc is None:
            out.append(cell)
        elif sc.locked or sc.is_test:
            if cell.cell_type != sc.cell_type or _visible(cell.source) != _visible(sc.source):
                notes.append(f"restored cell {sc.name}")
            out.append(restore_cell(sc))  # whole: metadata and tags are the instructor's
        else:
            if cell.cell_type != sc.cell_type:
                notes.append(f"cell type of {sc.name} restored")
                make = new_code_cell if sc.cell_type == "code" else new_markdown_cell
                cell = make(cell.source)
            cell.metadata = {"nbgrader": dict(restore_cell(sc).metadata["nbgrader"])}
            out.append(cell)
    _reinsert(out, tuple(source_cells), notes)
    nb.cells = out
    return nb, notes, claims


def parse_notebook(text: str):
    """A submitted notebook as nbformat v4, without a JSON-schema validation pass.

    The sanitizer rebuilds every cell that matters from the gradebook, so schema validation
    (a large share of the worker's CPU time) adds nothing; what nbclient needs is checked here.
    A malformed cell is dropped, not the whole notebook.
    """
    import nbformat
    from nbformat.v4.rwbase import rejoin_lines

    data = json.loads(text)
    if not isinstance(data, dict) or not isinstance(data.get("cells"), list):
        raise ValueError("no list of cells")
    nb = nbformat.from_dict(data)
    if nb.get("nbformat") != 4:
        nb = nbformat.reads(text, as_version=4)
    nb = rejoin_lines(nb)
    if not isinstance(nb.get("metadata"), dict):
        nb.metadata = nbformat.NotebookNode()
    cells = []
    for cell in nb.cells:
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw"):
            continue
        if not isinstance(cell.get("source", ""), str):
            continue
        cell.setdefault("source", "")
        if not isinstance(cell.get("metadata"), dict):
            cell.metadata = nbformat.NotebookNode()
        meta = cell.metadata.get("nbgrader")
        if meta is not None and not (isinstance(meta, dict)
                                     and isinstance(meta.get("grade_id", ""), str)):
            del cell.metadata["nbgrader"]
        if cell.cell_type == "code" and not isinstance(cell.get("outputs"), list):
            cell.outputs = []
        cells.append(cell)
    nb.cells = cells
    return nb
