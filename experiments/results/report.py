"""The report of a grid: `report.md` and a self-contained `report.html`, rebuilt from the records.

    write_report(grid_dir)   # summary.csv, plots/*.png, report.md, report.html; returns report.md

`build_report(tables, plots)` is pure: it returns the report as a list of blocks (headings,
paragraphs, lists, tables, images), which `render.to_markdown` and `render.to_html` render; only
`write_report` writes files, each atomically (a temporary file, then one rename). The HTML embeds
every image (base64 PNG), so it can be mailed or archived alone; the Markdown links to `plots/`.
`summary.csv` and the TensorBoard files, which `run --no-report` writes alone, are
`exports.write_summary`'s.
"""

from __future__ import annotations

import io
import os
import platform
from pathlib import Path

from experiments.records import environment
from experiments.records.files import write_atomic
from experiments.results import analysis, findings
from experiments.results.exports import write_summary
from experiments.results.formatting import num, pct
from experiments.results.measures import SMOOTH_STEPS
from experiments.results.render import Block, to_html, to_markdown
from experiments.vocabulary import FAILED, PLOTS_DIR, REPORT_HTML, REPORT_MD


def _h(level: int, text: str, anchor: str = "") -> Block:
    return Block("heading", text, level=level, anchor=anchor)


def _p(text: str) -> Block:
    return Block("text", text)


def _list(items) -> Block:
    return Block("items", items=tuple(items))


def _table(header, rows) -> Block:
    return Block("table", header=tuple(header), items=tuple(tuple(r) for r in rows))


# --------------------------------------------------------------------------------------------------
# Content


def build_report(tables: analysis.Tables, plots: list[tuple[str, str]]) -> list[Block]:
    """The report of `tables`, with `plots` given as `(relative PNG path, caption)` pairs."""
    info = analysis.describe_grid(tables)
    status = ", ".join(f"{count} {name}" for name, count in info["status"].items())
    blocks = [
        _h(1, f"Report: grid `{info['name']}`"),
        _p(
            f"Rebuilt from the records in `{tables.grid_dir}` alone (no training) by "
            f"`python -m experiments report {tables.grid_dir}`. {info['runs']} runs ({status}) "
            f"of {info['configurations']} configurations, seeds {info['seeds']}. Per-run values: "
            "`summary.csv`; per-step records: `runs/<run-id>/`."
        ),
    ]
    judged = findings.judge(tables)
    blocks += _advice_section(judged)
    blocks += _grid_section(tables, info)
    blocks += _findings_section(judged)
    blocks += _summary_section(tables)
    blocks += _plots_section(plots)
    blocks += _environment_section(tables)
    blocks += _failures_section(tables)
    blocks += _skipped_section(tables)
    return blocks


def _grid_section(tables, info) -> list[Block]:
    runs = tables.runs
    blocks = [_h(2, "Grid")]
    blocks.append(_p("The settings that vary across the grid (its axes):"))
    blocks.append(
        _table(
            ("setting", "values"), [(k, ", ".join(map(str, v))) for k, v in info["axes"].items()]
        )
    )
    blocks.append(_p("The settings every run shares:"))
    blocks.append(_table(("setting", "value"), [(k, str(v)) for k, v in info["fixed"].items()]))
    rows = []
    finished = runs[runs["status"] != FAILED]
    for label, group in finished.groupby("task_label", sort=False):
        rules = group.iloc[0]
        rows.append(
            (
                label,
                f"{rules['loss_name']} / {rules['metric_name']}",
                rules["solved_rule"],
                f"{rules['baseline_kind']} {num(rules['baseline'])}",
                num(rules["loss_baseline"]),
                "/".join(str(int(s)) for s in sorted(group["steps"].unique())),
                str(len(group)),
            )
        )
    blocks.append(_p("The tasks, their rules and step budgets:"))
    blocks.append(
        _table(
            ("task", "loss / metric", "solved", "baseline", "loss baseline", "steps", "runs"),
            rows,
        )
    )
    return blocks


def _advice_section(judged: list[findings.Finding]) -> list[Block]:
    return [
        _h(2, "What to choose"),
        _p(
            "For a practitioner, from this grid's verdicts (each links to its evidence below; "
            "they hold on these tasks at these step budgets):"
        ),
        _list(findings.what_to_choose(judged)),
    ]


_TEST_HEADER = ("comparison", "test", "n", "p (Holm)", "effect [95% CI]", "outcome", "to decide")


def _test_rows(comparisons) -> list[tuple]:
    return [
        (
            f"{c.label}: {c.a} vs {c.b}",
            f"{c.test}, statistic {c.statistic:.4g}",
            c.n,
            f"{c.p_value:.3g} ({c.p_adjusted:.3g})",
            f"{'net win share' if c.paired else 'Cliff delta'} {c.effect:+.2f} "
            f"[{c.interval[0]:+.2f}, {c.interval[1]:+.2f}]",
            c.outcome,
            c.seeds_needed or "",
        )
        for c in comparisons
    ]


def _findings_section(judged: list[findings.Finding]) -> list[Block]:
    blocks = [
        _h(2, "Findings"),
        _p(
            "Each claim from the literature that this suite tests, with a verdict computed from "
            "the records by the rule stated under it (supported, contradicted, inconclusive, or "
            "not tested by this grid when the runs it needs are missing). Conventions shared by "
            "the rules:"
        ),
        _list(findings.CONVENTIONS),
        _table(
            ("", "claim", "verdict", "tests", "step budget"),
            [
                (
                    f"[{f.key}](#{f.key.lower()})",
                    f.claim,
                    f"**{f.verdict}**",
                    _tests_summary(f),
                    f.budget_text,
                )
                for f in judged
            ],
        ),
    ]
    blocks.append(
        _p(
            "Which grid decides what: `make experiments` (`experiments/configs/default.toml`) "
            "runs what each finding needs on the adding problem in minutes on two cores; "
            "`experiments/configs/full.toml` (tens of thousands of runs, `--executor ray`) adds "
            "the other tasks, spans and variants:"
        )
    )
    blocks.append(
        _table(
            ("", "default grid", "full.toml adds"),
            [
                (f"[{key}](#{key.lower()})", default, more or "-")
                for key, (default, more) in findings.SCOPE.items()
            ],
        )
    )
    for finding in judged:
        blocks += [
            _h(3, f"{finding.key}: {finding.claim}", anchor=finding.key.lower()),
            _p(f"**Verdict: {finding.verdict}.** Source: {finding.source}."),
            _p(f"Rule: {finding.rule}"),
            _p(f"Step budget: {finding.budget_text}."),
        ]
        if finding.comparisons:
            blocks.append(_table(_TEST_HEADER, _test_rows(finding.comparisons)))
        if finding.context:
            blocks += [
                _p("Shown beside the verdict (not part of it):"),
                _table(_TEST_HEADER, _test_rows(finding.context)),
            ]
        blocks += [_p("Evidence:"), _list(finding.evidence)]
    return blocks


def _tests_summary(finding: findings.Finding) -> str:
    """E.g. "3 tests: 2 significant, 1 undecided"."""
    tests = finding.comparisons
    if not tests:
        return "none"
    significant = sum(c.favours_a or c.favours_b for c in tests)
    equivalent = sum(c.equivalent and not (c.favours_a or c.favours_b) for c in tests)
    rest = len(tests) - significant - equivalent
    parts = [f"{significant} significant", f"{equivalent} equivalent", f"{rest} undecided"]
    return f"{len(tests)} test(s): " + ", ".join(p for p in parts if not p.startswith("0 "))


def _summary_section(tables) -> list[Block]:
    blocks = [
        _h(2, "Summary tables"),
        _p(
            "One row per configuration, aggregated over its seeds. *solved*: seeds that solved "
            "the task / finished seeds, with the 95% Wilson interval of the rate; *metric*: "
            "median (min-max) of the final held-out metric over completed runs; *loss/base*: "
            "median final held-out loss / memoryless baseline; *half*: median step at which the "
            "training loss (moving median over "
            f"{SMOOTH_STEPS} steps) fell below half the baseline, and how many seeds got "
            "there; *clipped*: median share of steps at which clipping changed the gradient; "
            "*peak norm*: median of the largest pre-clip gradient norm."
        ),
    ]
    header = (
        "cell, activations",
        "clip",
        "solved [95% CI]",
        "diverged",
        "metric",
        "loss/base",
        "half",
        "clipped",
        "peak norm",
    )
    configs = tables.configs
    for label, part in configs.groupby("task_label", sort=False):
        rules = part.iloc[0]
        steps = "/".join(str(int(s)) for s in sorted(part["steps"].unique()))
        blocks.append(
            _h(
                3,
                f"{label}: {rules['metric_name']}, solved at {rules['solved_rule']}, {steps} steps",
            )
        )
        rows = []
        for _, c in part.iterrows():
            rows.append(
                (
                    c["model_label"],
                    c["clip_label"],
                    f"{c['n_solved']}/{c['n_finished']} [{pct(c['success_low'])}-"
                    f"{pct(c['success_high'])}]",
                    str(c["n_diverged"]),
                    f"{num(c['metric_median'])} ({num(c['metric_min'])}-{num(c['metric_max'])})",
                    num(c["loss_ratio_median"]),
                    f"{num(c['step_half_median'], '.0f')} ({c['n_half']}/{c['seeds']})",
                    pct(c["clipped_steps_median"]),
                    num(c["max_grad_norm_median"]),
                )
            )
        blocks.append(_table(header, rows))
    return blocks


def _plots_section(plots: list[tuple[str, str]]) -> list[Block]:
    blocks = [
        _h(2, "Plots"),
        _p(
            "The colour of a line names the activation variant and its style the cell, the same "
            "in every figure. Gradient-norm figures: the dotted line is the clip threshold t, a "
            "bound on the global norm for global_clipnorm, on each variable's norm for clipnorm "
            "and on each value for clipvalue."
        ),
    ]
    for path, caption in plots:
        blocks += [_h(3, caption), Block("image", caption, path=path)]
    return blocks


def _environment_section(tables) -> list[Block]:
    env = tables.environment or {}
    rows = [(k, str(env[k])) for k in ("python", "platform", "processor", "cpu_count") if k in env]
    rows += [(name, version) for name, version in env.get("packages", {}).items()]
    blocks = [
        _h(2, "Environment"),
        _p("Where the runs were trained (from the records):"),
        _table(("", "version / value"), rows) if rows else _p("not recorded"),
    ]
    cpu = f"{environment.cpu_model()} ({os.cpu_count()} logical CPUs)"
    report_env = [("python", platform.python_version()), ("cpu", cpu)]
    report_env += list(environment.versions(environment.REPORT_PACKAGES).items())
    blocks += [
        _p("Where this report was built:"),
        _table(("", "version"), report_env),
    ]
    return blocks


def _failures_section(tables) -> list[Block]:
    failed = tables.runs[tables.runs["status"] == FAILED]
    if failed.empty:
        return []
    items = []
    for _, run in failed.iterrows():
        error = str(run.get("error") or "").strip().splitlines()
        items.append(f"`{run['run_id']}`: {error[-1] if error else 'no error recorded'}")
    return [
        _h(2, "Failed runs"),
        _p("These runs raised (a bug, not a result; see their `summary.json`):"),
        _list(items),
    ]


def _skipped_section(tables) -> list[Block]:
    if not tables.skipped:
        return []
    return [
        _h(2, "Skipped folders"),
        _p("These entries of `runs/` are not a whole run's records; the report leaves them out:"),
        _list(f"`{name}`: {why}" for name, why in tables.skipped),
    ]


# --------------------------------------------------------------------------------------------------
# Writing


def save_png(figure, path: Path) -> Path:
    """Saves a matplotlib figure as a small PNG, atomically: rendered by Agg at `plots.DPI`, then
    reduced to a 256-colour palette (a third of the size; the figures use few colours)."""
    from PIL import Image  # a dependency of matplotlib

    from experiments.results import plots

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=plots.DPI)
    image = Image.open(buffer).convert("RGB").quantize(colors=256, dither=Image.Dither.NONE)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    write_atomic(Path(path), out.getvalue())
    return Path(path)


def draw_plots(tables: analysis.Tables, folder: Path) -> list[tuple[str, str]]:
    """Draws every figure of `plots.plot_list` into `folder` (atomically, one PNG each) and removes
    PNGs there from an earlier report; returns `(file name, caption)` pairs."""
    from experiments.results import plots

    folder.mkdir(parents=True, exist_ok=True)
    drawn = []
    for plot in plots.plot_list(tables):
        path = folder / f"{plot.name}.png"
        save_png(plot.make(), path)
        drawn.append((path.name, plot.caption))
    for stale in set(folder.glob("*.png")) - {folder / name for name, _ in drawn}:
        stale.unlink()
    return drawn


def write_report(grid_dir: Path) -> Path:
    """Rebuilds `summary.csv`, the TensorBoard files (`write_summary`), `plots/*.png`, `report.md`
    and `report.html` in `grid_dir` from its records; returns the path of `report.md`.
    Unreadable run folders are named on stderr and in the report, and left out
    (`analysis.load`).

    Raises:
        FileNotFoundError: `grid_dir` does not exist or has no run records.
    """
    grid_dir = Path(grid_dir)
    tables = write_summary(grid_dir)
    drawn = draw_plots(tables, grid_dir / PLOTS_DIR)
    plots = [(f"{PLOTS_DIR}/{name}", caption) for name, caption in drawn]
    blocks = build_report(tables, plots)
    images = {path: (grid_dir / path).read_bytes() for path, _ in plots}
    write_atomic(grid_dir / REPORT_HTML, to_html(blocks, images))
    return write_atomic(grid_dir / REPORT_MD, to_markdown(blocks))
