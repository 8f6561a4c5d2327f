"""`slimtune report`: one self-contained HTML page of a search (the plots embedded, the front,
the chosen model's card, the confirmations) built from result.json's value and the trials table.
It opens from disk without a server or a network: images are base64 PNGs and plotly.js is inline."""

from __future__ import annotations

import base64
import io
import json
from html import escape
from pathlib import Path
from typing import Any

from slimtune.search._errors import UsageError
from slimtune.search.analysis._plots import (
    kernel_slicing_png,
    pareto_html,
    pareto_png,
    progress_png,
    study_slices,
)
from slimtune.search.analysis._trials import TRIALS_CSV, TrialRow, read_trials_csv

STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px auto;
max-width:1100px;color:#222;padding:0 16px}
h1{font-size:1.5em;margin-bottom:.2em}h2{margin-top:1.6em;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:.85em;margin:.5em 0}
td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4}td.l,th.l{text-align:left}tr.pick td{background:#fff3c4;font-weight:600}
.msg{background:#eef5ff;border-left:4px solid #1f77b4;padding:8px 12px}
.card{border:1px solid #ccc;border-radius:6px;padding:8px 16px;background:#fafafa}
img{max-width:100%;border:1px solid #eee}code,pre{font-size:.85em}
"""


def report_html(result: dict[str, Any], rows: list[TrialRow]) -> str:
    """The whole page. `result` is result.json's value; `rows` the study's trials table."""
    study = result["study"]
    objective = result.get("size_objective", "params")
    figures = [
        ("Accuracy vs size (static)", pareto_png(result, rows)),
        (
            "Accuracy vs size by kernel size, as in the seed paper",
            kernel_slicing_png(
                study_slices(rows),
                objective,
                "accuracy vs size by conv kernel size (this study)",
                "worst-case validation accuracy over seeds",
                result.get("floor"),
            ),
        ),
        ("Search progress: smallest feasible size found over time", progress_png(result, rows)),
    ]
    parts = [
        f"<h1>slimtune report: study <code>{escape(study['name'])}</code></h1>",
        f"<p class='msg' id='message'>{escape(result['message'])}</p>",
        _overview(result),
        "<h2>Chosen model</h2>",
        _card(result),
        "<h2>Confirmations</h2>",
        _confirmations(result),
        "<h2>Pareto front (interactive)</h2>",
        pareto_html(result, rows, full_html=False),
        "<h2>Pareto front table</h2>",
        _front(result),
        *(f"<h2>{escape(title)}</h2>{_png(fig)}" for title, fig in figures),
        "<h2>All trials</h2>",
        _trials(rows),
    ]
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>slimtune report: {escape(study['name'])}</title>"
        f"<style>{STYLE}</style></head><body>" + "\n".join(parts) + "</body></html>"
    )


def _overview(result: dict[str, Any]) -> str:
    study, selection, mlflow = result["study"], result.get("selection") or {}, result["mlflow"]
    return _table(
        ["", ""],
        [
            ["floor (worst-case accuracy)", result["floor"]],
            ["validation floor (with margin)", selection.get("validation_floor")],
            ["size objective", result.get("size_objective")],
            ["strategy", selection.get("strategy")],
            [
                "epochs (search / full recipe)",
                f"{selection.get('epochs')} / {selection.get('full_epochs')}",
            ],
            [
                "trials",
                f"{study['n_complete']} complete, {study['n_pruned']} pruned, "
                f"{study['n_failed']} failed",
            ],
            ["Optuna storage", study["storage"]],
            [
                "MLflow",
                f"{mlflow.get('tracking_uri')} (experiment {mlflow.get('experiment')}, "
                f"parent run {mlflow.get('parent_run_id')})",
            ],
        ],
        left=2,
    )


def _card(result: dict[str, Any]) -> str:
    chosen = result.get("chosen")
    if not chosen:
        return "<p id='card'>No configuration was chosen (see the message above).</p>"
    fp, base = chosen["footprint"], result["baseline"]
    footprint = _table(
        ["", "chosen", base["name"], "reduction"],
        [
            [
                key,
                f"{fp[key]:,}",
                f"{base['footprint'][key]:,}",
                f"{base['footprint'][key] / fp[key]:.0f}x",
            ]
            for key in fp
        ],
        left=1,
    )
    accuracies = [
        ["search, validation", chosen["search_seeds"], chosen["search_val_accuracies"]],
        ["confirmation, validation", chosen["seeds"], chosen["val_accuracies"]],
    ]
    if chosen.get("recheck_accuracies"):
        accuracies.append(
            ["confirmation, recheck split", chosen["seeds"], chosen["recheck_accuracies"]]
        )
    accuracies.append(["confirmation, test split", chosen["seeds"], chosen["test_accuracies"]])
    seeds = _table(
        ["measured on", "seeds", "accuracies", "worst"],
        [
            [
                what,
                ", ".join(map(str, s)),
                ", ".join(f"{v:.4f}" for v in values),
                f"{min(values):.4f}",
            ]
            for what, s, values in accuracies
        ],
        left=3,
    )
    mlflow = result["mlflow"]
    registered = (
        f"{mlflow['registered_model_name']} version "
        f"{mlflow['registered_model_version']} (<code>{escape(mlflow['model_uri'])}"
        "</code>)"
        if mlflow.get("registered_model_version")
        else "not registered"
    )
    return (
        f"<div class='card' id='card'><h3>{escape(chosen['summary'])}</h3>"
        f"<p>trial {chosen['trial_number']}; worst-case test accuracy "
        f"<b>{chosen['worst_case_test_accuracy']:.4f}</b> against the floor "
        f"{result['floor']}; registry: {registered}; confirmation run "
        f"<code>{escape(str(mlflow.get('confirmation_run_id')))}</code></p>"
        f"{footprint}{seeds}<p>configuration:</p>"
        f"<pre>{escape(json.dumps(chosen['config'], indent=1))}</pre>"
        f"<p>selection rule: {escape(str((result.get('selection') or {}).get('rule', '')))}"
        "</p></div>"
    )


def _confirmations(result: dict[str, Any]) -> str:
    confirmations = result.get("confirmations") or []
    if not confirmations:
        return "<p>No candidate was confirmed.</p>"

    def worst(values: list[float]) -> str:
        return f"{min(values):.4f}" if values else "-"

    return _table(
        [
            "trial",
            "config",
            "params",
            "seeds",
            "worst val",
            "worst recheck",
            "recheck held",
            "worst test",
            "holds the floor",
        ],
        [
            [
                c["trial_number"],
                c["summary"],
                f"{c['params']:,}",
                ", ".join(map(str, c["seeds"])),
                worst(c["val_accuracies"]),
                worst(c["recheck_accuracies"]),
                {True: "yes", False: "no", None: "-"}[c["recheck_passed"]],
                worst(c["test_accuracies"]),
                "yes" if c["passed"] else "no",
            ]
            for c in confirmations
        ],
        left=2,
    )


def _front(result: dict[str, Any]) -> str:
    chosen = (result.get("chosen") or {}).get("trial_number")
    rows = [
        [
            p["trial_number"],
            p["summary"],
            f"{p['params']:,}",
            f"{p['size']:,.0f}",
            f"{p['worst_case_val_accuracy']:.4f}",
            "yes" if p["feasible"] else "no",
            "pick" if p["trial_number"] == chosen else "",
        ]
        for p in result.get("front", [])
    ]
    return _table(
        [
            "trial",
            "config",
            "params",
            f"size ({result.get('size_objective')})",
            "worst-case val acc",
            "feasible",
            "",
        ],
        rows,
        left=2,
        highlight=lambda row: row[-1] == "pick",
    )


def _trials(rows: list[TrialRow]) -> str:
    body = [
        [
            r.number,
            r.state,
            r.summary,
            f"{r.params:,}" if r.params else "-",
            f"{r.worst_case_val_accuracy:.4f}" if r.worst_case_val_accuracy is not None else "-",
            "yes" if r.feasible else "no",
            f"{r.finished_s:.0f}" if r.finished_s is not None else "-",
            r.reason[:120],
        ]
        for r in sorted(rows, key=lambda r: r.number)
    ]
    return (
        "<details><summary>"
        + f"{len(rows)} trials</summary>"
        + _table(
            [
                "trial",
                "state",
                "config",
                "params",
                "worst val acc",
                "feasible",
                "finished (s)",
                "reason",
            ],
            body,
            left=3,
        )
        + "</details>"
    )


def _table(header: list[str], rows: list[list[Any]], left: int = 1, highlight: Any = None) -> str:
    """An HTML table; the first `left` columns are left-aligned (names, not numbers)."""

    def cells(values: list[Any], tag: str) -> str:
        return "".join(
            f"<{tag}{' class=l' if i < left else ''}>{escape(str(v))}</{tag}>"
            for i, v in enumerate(values)
        )

    head = f"<tr>{cells(header, 'th')}</tr>" if any(header) else ""
    body = "".join(
        f"<tr{' class=pick' if highlight and highlight(row) else ''}>{cells(row, 'td')}</tr>"
        for row in rows
    )
    return f"<table>{head}{body}</table>"


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    plt.close(fig)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"<img alt='figure' src='data:image/png;base64,{encoded}'>"


RESULT_KEYS = {
    "study",
    "floor",
    "front",
    "chosen",
    "confirmations",
    "baseline",
    "mlflow",
    "message",
}


def load_finished_search(folder: Path) -> tuple[dict[str, Any], list[TrialRow]]:
    """result.json's value and the trials table of the search whose --out is `folder`.
    UsageError (one line, naming the folder and the fix) when there is none to read."""
    again = f"run slimtune search --out {folder} (the same command resumes without training)"
    if not folder.is_dir():
        raise UsageError(
            f"--out {folder}: no such folder; give the --out folder of a slimtune search"
        )
    result_path = folder / "result.json"
    if not result_path.is_file():
        raise UsageError(f"--out {folder}: no result.json there, so no finished search; {again}")
    try:
        result = json.loads(result_path.read_text())
    except (OSError, ValueError) as exc:
        raise UsageError(f"--out {folder}: result.json cannot be read ({exc}); {again}") from None
    if not isinstance(result, dict) or not RESULT_KEYS <= set(result):
        raise UsageError(f"--out {folder}: result.json is not a slimtune search result; {again}")
    table = folder / TRIALS_CSV
    if not table.is_file():
        raise UsageError(
            f"--out {folder}: no {TRIALS_CSV} there (searches before slimtune "
            f"wrote it lack one); {again}"
        )
    try:
        rows = read_trials_csv(table)
    except (OSError, ValueError) as exc:
        raise UsageError(f"--out {folder}: {exc}; {again}") from None
    return result, rows
