"""Pictures of a finished study, from its result (result.json's value) and its trials table:
the accuracy/size Pareto front (PNG, and interactive HTML with plotly), accuracy vs size sliced
by kernel size as in the seed paper, and the smallest feasible size found over wall time.
Matplotlib and plotly load inside the functions, so importing this module stays light."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from slimtune.search.analysis._trials import TrialRow

if TYPE_CHECKING:
    from matplotlib.figure import Figure

PARETO_PNG = "pareto_front.png"
PARETO_HTML = "pareto_front.html"
KERNEL_SLICING_PNG = "kernel_slicing.png"
PROGRESS_PNG = "progress.png"
FIGURES = (PARETO_PNG, PARETO_HTML, KERNEL_SLICING_PNG, PROGRESS_PNG)
SIZE_LABELS = {
    "params": "parameters",
    "int8_bytes": "int8 weight bytes",
    "macs": "multiply-accumulates per image",
}
PICK_COLOR, FLOOR_COLOR, FRONT_COLOR = "#d62728", "#7f7f7f", "#1f77b4"
DPI = 110


@dataclass(frozen=True)
class SlicePoint:
    """One network of a kernel-size slice: its size and accuracies over seeds. Points `joined`
    are drawn as a line (a sweep, or the slice's own front); the others as faint dots."""

    kernel: str
    size: float
    median_accuracy: float
    worst_accuracy: float
    joined: bool = True


def write_figures(result: dict[str, Any], rows: list[TrialRow], folder: Path) -> list[Path]:
    """Draw every figure of FIGURES into `folder`; returns their paths in that order."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in FIGURES]
    _save(pareto_png(result, rows), paths[0])
    paths[1].write_text(pareto_html(result, rows, full_html=True))
    _save(
        kernel_slicing_png(
            study_slices(rows),
            result.get("size_objective", "params"),
            "accuracy vs size by conv kernel size (this study)",
            "worst-case validation accuracy over seeds",
            result.get("floor"),
        ),
        paths[2],
    )
    _save(progress_png(result, rows), paths[3])
    return paths


# --- the Pareto front ---------------------------------------------------------------------------
def pareto_png(result: dict[str, Any], rows: list[TrialRow]) -> Figure:
    """Every trained trial (size on a log axis, worst-case validation accuracy), the front joined,
    the floor drawn and the pick marked."""
    plt = _pyplot()
    trained = _trained(rows)
    front = _front_rows(result, rows)
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.scatter(
        [r.size for r in trained],
        [r.worst_case_val_accuracy for r in trained],
        s=18,
        c=["#2ca02c" if r.feasible else "#bbbbbb" for r in trained],
        label="trials (green: feasible)",
        zorder=2,
    )
    ax.plot(
        [r.size for r in front],
        [r.worst_case_val_accuracy for r in front],
        "-o",
        color=FRONT_COLOR,
        markersize=4,
        label="Pareto front",
        zorder=3,
    )
    for value, style, label in _floors(result):
        ax.axhline(value, color=FLOOR_COLOR, linestyle=style, linewidth=1, label=label)
    pick = _pick_row(result, rows)
    if pick is not None:
        ax.scatter(
            [pick.size],
            [pick.worst_case_val_accuracy],
            marker="*",
            s=220,
            color=PICK_COLOR,
            edgecolor="black",
            zorder=4,
            label=f"pick: {pick.summary}",
        )
    _log_x(ax, trained)
    ax.set_xlabel(f"{_size_label(result)} (log scale)")
    ax.set_ylabel("worst-case validation accuracy")
    ax.set_title(f"study {result['study']['name']}: accuracy vs size")
    _y_limits(ax, trained, result)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return fig


def pareto_html(result: dict[str, Any], rows: list[TrialRow], full_html: bool) -> str:
    """The same picture as `pareto_png`, interactive (hover names each trial), with plotly.js
    embedded so it opens without a network. `full_html` False: a <div> to put in a page."""
    import plotly.graph_objects as go

    trained = _trained(rows)
    front = _front_rows(result, rows)
    fig = go.Figure()
    for feasible, name, color in (
        (True, "feasible trials", "#2ca02c"),
        (False, "other trials", "#aaaaaa"),
    ):
        group = [r for r in trained if r.feasible == feasible]
        fig.add_trace(
            go.Scatter(
                x=[r.size for r in group],
                y=[r.worst_case_val_accuracy for r in group],
                mode="markers",
                name=name,
                marker={"color": color, "size": 7},
                text=[_hover(r) for r in group],
                hoverinfo="text",
            )
        )
    fig.add_trace(
        go.Scatter(
            x=[r.size for r in front],
            y=[r.worst_case_val_accuracy for r in front],
            mode="lines+markers",
            name="Pareto front",
            line={"color": FRONT_COLOR},
            text=[_hover(r) for r in front],
            hoverinfo="text",
        )
    )
    pick = _pick_row(result, rows)
    if pick is not None:
        fig.add_trace(
            go.Scatter(
                x=[pick.size],
                y=[pick.worst_case_val_accuracy],
                mode="markers+text",
                name=f"pick: {pick.summary}",
                text=[f"pick: {pick.summary}"],
                # The pick is the smallest feasible point, so usually the leftmost: label
                # rightwards.
                textposition="top right",
                hovertext=[_hover(pick)],
                hoverinfo="text",
                marker={
                    "symbol": "star",
                    "size": 18,
                    "color": PICK_COLOR,
                    "line": {"color": "black", "width": 1},
                },
            )
        )
    for value, style, label in _floors(result):
        fig.add_hline(
            y=value,
            line={"color": FLOOR_COLOR, "dash": "solid" if style == "-" else "dash", "width": 1},
            annotation_text=label,
            annotation_position="bottom left",
        )
    fig.update_xaxes(type="log", title=f"{_size_label(result)} (log scale)")
    fig.update_yaxes(title="worst-case validation accuracy")
    fig.update_layout(
        title=f"study {result['study']['name']}: accuracy vs size",
        template="plotly_white",
        height=480,
        margin={"t": 50, "b": 50},
    )
    return fig.to_html(full_html=full_html, include_plotlyjs=True, div_id="pareto-front")


# --- kernel-size slicing --------------------------------------------------------------------------
def kernel_slicing_png(
    points: list[SlicePoint],
    size_objective: str,
    title: str,
    ylabel: str,
    floor: float | None = None,
) -> Figure:
    """Accuracy vs size, one colour per kernel size (the seed paper's figure): the median over
    seeds as a solid line, the worst seed dotted; points not `joined` as faint dots."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for kernel in sorted({p.kernel for p in points}, key=_kernel_order):
        group = [p for p in points if p.kernel == kernel]
        joined = sorted((p for p in group if p.joined), key=lambda p: p.size)
        label = "x".join([kernel] * 2) if kernel.isdigit() else kernel
        line = ax.plot(
            [p.size for p in joined],
            [p.median_accuracy for p in joined],
            marker="o",
            markersize=4,
            label=f"{label} (median)",
        )[0]
        ax.plot(
            [p.size for p in joined],
            [p.worst_accuracy for p in joined],
            linestyle=":",
            color=line.get_color(),
            label=f"{label} (worst)",
        )
        loose = [p for p in group if not p.joined]
        if loose:
            ax.scatter(
                [p.size for p in loose],
                [p.worst_accuracy for p in loose],
                s=10,
                color=line.get_color(),
                alpha=0.35,
            )
    if floor is not None:
        ax.axhline(floor, color=FLOOR_COLOR, linewidth=1, label=f"floor {floor}")
    _log_x(ax, points)
    ax.set_xlabel(SIZE_LABELS.get(size_objective, size_objective))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def study_slices(rows: list[TrialRow]) -> list[SlicePoint]:
    """The study's trained trials by kernel sizes; each slice's own front is joined."""
    points = []
    for kernel in {r.kernel_sizes for r in _trained(rows)}:
        group = [
            SlicePoint(kernel, r.size, median, r.worst_case_val_accuracy)
            for r in rows
            if r.kernel_sizes == kernel
            and r.size is not None
            and r.worst_case_val_accuracy is not None
            and (median := r.median_val_accuracy) is not None
        ]
        front = _non_dominated(group)
        points += [replace(p, joined=p in front) for p in group]
    return points


# --- progress over time ---------------------------------------------------------------------------
def progress_png(result: dict[str, Any], rows: list[TrialRow]) -> Figure:
    """The smallest feasible size found so far against wall time since the first trial started
    (a step each time a smaller feasible trial finished), and when each trial finished."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    times, sizes = smallest_feasible_over_time(rows)
    finished = sorted(
        ((r.finished_s, r) for r in rows if r.finished_s is not None), key=lambda tr: tr[0]
    )
    end = max((t for t, _ in finished), default=0.0)
    if times:
        ax.step(
            [*times, end] if end > times[-1] else times,
            [*sizes, sizes[-1]] if end > times[-1] else sizes,
            where="post",
            color=FRONT_COLOR,
            label="smallest feasible so far",
        )
        ax.scatter(times, sizes, color=FRONT_COLOR, s=16, zorder=3)
        ax.set_yscale("log")
    else:
        ax.text(0.5, 0.5, "no feasible trial", transform=ax.transAxes, ha="center")
    for t, r in finished:  # every finished trial, as a tick on the time axis
        ax.axvline(t, ymax=0.04, color="#2ca02c" if r.feasible else "#bbbbbb")
    ax.set_xlabel("wall time since the first trial started (s)")
    ax.set_ylabel(f"smallest feasible {_size_label(result)}")
    ax.set_title(
        f"search progress: {len(finished)} trials finished (ticks; green: feasible)", fontsize=10
    )
    ax.grid(True, which="both", alpha=0.3)
    if times:
        ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def smallest_feasible_over_time(rows: list[TrialRow]) -> tuple[list[float], list[float]]:
    """(finish times, sizes) at which the smallest feasible size so far went down."""
    times: list[float] = []
    sizes: list[float] = []
    feasible = (
        (r.finished_s, r.size)
        for r in rows
        if r.feasible and r.finished_s is not None and r.size is not None
    )
    for finished_s, size in sorted(feasible, key=lambda ts: ts[0]):
        if not sizes or size < sizes[-1]:
            times.append(finished_s)
            sizes.append(size)
    return times, sizes


# --- helpers --------------------------------------------------------------------------------------
def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")  # files only: no display on servers and CI
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Figure, path: Path) -> None:
    import matplotlib.pyplot as plt

    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _log_x(ax: Any, drawn: list[Any]) -> None:
    """A log size axis, or a note where nothing is drawn yet (an empty axis cannot be log)."""
    if drawn:
        ax.set_xscale("log")
    else:
        ax.text(0.5, 0.5, "no trained trial yet", transform=ax.transAxes, ha="center")


def _trained(rows: list[TrialRow]) -> list[TrialRow]:
    return [r for r in rows if r.worst_case_val_accuracy is not None and r.size is not None]


def _front_rows(result: dict[str, Any], rows: list[TrialRow]) -> list[TrialRow]:
    by_number = {r.number: r for r in rows}
    return [
        by_number[p["trial_number"]]
        for p in result.get("front", [])
        if p["trial_number"] in by_number
    ]


def _pick_row(result: dict[str, Any], rows: list[TrialRow]) -> TrialRow | None:
    chosen = result.get("chosen")
    if not chosen:
        return None
    return next((r for r in rows if r.number == chosen["trial_number"]), None)


def _non_dominated(points: list[SlicePoint]) -> list[SlicePoint]:
    return [
        p
        for p in points
        if not any(
            o.worst_accuracy >= p.worst_accuracy
            and o.size <= p.size
            and (o.worst_accuracy > p.worst_accuracy or o.size < p.size)
            for o in points
        )
    ]


def _floors(result: dict[str, Any]) -> list[tuple[float, str, str]]:
    """The floor, and the validation floor (with its margin) where it differs."""
    floors = [(result["floor"], "-", f"floor {result['floor']}")]
    validation = (result.get("selection") or {}).get("validation_floor")
    if validation is not None and validation != result["floor"]:
        floors.append((validation, "--", f"validation floor {validation:.4f} (with margin)"))
    return floors


def _y_limits(ax: Any, trained: list[TrialRow], result: dict[str, Any]) -> None:
    """Zoom on the floor (trials far below it would squash the interesting part) and say how
    many trials that leaves out."""
    low = max(0.0, result["floor"] - 0.1)
    hidden = sum(r.worst_case_val_accuracy < low for r in trained)
    ax.set_ylim(low - 0.01, 1.0 + 0.005)
    if hidden:
        ax.text(
            0.01,
            0.01,
            f"{hidden} trial(s) below {low:.2f} not shown",
            transform=ax.transAxes,
            fontsize=7,
            color=FLOOR_COLOR,
        )


def _hover(row: TrialRow) -> str:
    return (
        f"trial {row.number}: {row.summary}<br>{row.params:,} params, worst-case val acc "
        f"{row.worst_case_val_accuracy:.4f}{' (feasible)' if row.feasible else ''}"
    )


def _size_label(result: dict[str, Any]) -> str:
    objective = result.get("size_objective", "params")
    return SIZE_LABELS.get(objective, objective)


def _kernel_order(kernel: str) -> tuple[int, str]:
    return (-int(kernel), "") if kernel.isdigit() else (0, kernel)  # 5x5, 3x3, 1x1, then mixed
