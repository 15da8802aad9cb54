"""F3: gated cells carry the gradient over long spans where a tanh RNN's vanishes."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from experiments.results import significance
from experiments.results.compare import ACTIVATIONS, match_arms, where
from experiments.results.findings.finding import Claim, Finding
from experiments.results.measures import finite
from experiments.results.significance import A_BETTER, INCONCLUSIVE, SUPPORTED
from experiments.vocabulary import STANDARD

CONTROL_RATE = 0.5  # the positive control solves in at least this share of its seeds

CLAIM = Claim(
    key="F3",
    text=(
        "LSTM and GRU carry the gradient over long spans where a tanh simple RNN's gradient "
        "vanishes."
    ),
    source="seed articles 001, 003; Hochreiter 1991; Bengio et al. 1994",
    rule=(
        "On the adding task at the longest length with both kinds of cell, per run D = "
        "log10(||dL/dx_0|| / ||dL/dx_T-1||) (orders of magnitude the gradient loses from the last "
        "input back to the first; outcome -D, lower is better), at the end of training (the last "
        "logged step) and, separately, at initialisation (step 1). A = each gated cell (standard "
        "activations) vs B = the tanh simple RNN, matched settings, Mann-Whitney. Claim: A "
        "loses fewer orders at the end of training (the verdict); at initialisation it is shown "
        "beside. Positive control: a tanh simple RNN configuration that solves a shorter adding "
        f"task in at least {CONTROL_RATE:.0%} of its seeds; without it the claim cannot be "
        "supported (a tanh RNN that learns nothing may be misconfigured, not vanishing)."
    ),
    scope=(
        "gradient through time of the LSTM, GRU and tanh RNN, adding T = 50 (T = 5 control)",
        "longer spans (T up to 400)",
    ),
)


def decay_orders(timesteps: pd.DataFrame, at: str = "median") -> pd.Series:
    """Per run: log10(||dL/dx_0|| / ||dL/dx_{T-1}||) at its first logged step (`at="first"`, the
    initialisation), its last (`"last"`), or the median over logged steps (`"median"`).

    Steps where either norm is zero or not finite are left out. Very negative: the gradient that
    reaches the first input has vanished; positive: it grew on its way back (explosion).
    """
    if timesteps.empty:
        return pd.Series(dtype=float)
    frame = finite(timesteps)
    last_t = frame.groupby("run_id")["t"].transform("max")
    first = frame[frame["t"] == 0].set_index(["run_id", "step"])["grad_norm"]
    last = frame[frame["t"] == last_t].set_index(["run_id", "step"])["grad_norm"]
    ratio = finite(first / last)
    orders = np.log10(ratio.where(ratio > 0)).dropna()
    grouped = orders.groupby(level="run_id")
    if at == "first":
        return grouped.first()
    if at == "last":
        return grouped.last()
    return grouped.median()


def judge(tables) -> Finding:
    """F3's verdict on `tables` (an `analysis.Tables`), by `CLAIM.rule`."""
    runs = tables.runs
    end, start = decay_orders(tables.timesteps, "last"), decay_orders(tables.timesteps, "first")
    logged = runs["run_id"].isin(end.index) & (runs["task"] == "adding")
    simple = runs[where(runs, ("simple_rnn",), candidate="tanh") & logged]
    gated = runs[where(runs, ("lstm", "gru"), **STANDARD) & logged]
    lengths = sorted(set(simple["length"]) & set(gated["length"]))
    if not lengths:
        return CLAIM.not_tested(
            "needs adding runs with gradient-through-time records of a tanh simple_rnn and a "
            "standard lstm or gru at the same length"
        )
    length = lengths[-1]
    tests, at_init, arms = [], [], {}
    tanh = simple[simple["length"] == length]
    for cell in ("lstm", "gru"):
        cell_runs = gated[(gated["cell"] == cell) & (gated["length"] == length)]
        matched = match_arms(tables, {"a": cell_runs, "b": tanh}, vary=(*ACTIVATIONS, "cell"))
        if matched["a"].empty:
            continue
        a, b = matched["a"], matched["b"]
        arms[cell] = a
        arms.setdefault("simple_rnn tanh", b)
        label = f"adding{length}"
        for orders, into in ((end, tests), (start, at_init)):
            into.append(
                significance.unpaired(
                    label,
                    cell,
                    "simple_rnn",
                    -orders[a["run_id"]].to_numpy(),
                    -orders[b["run_id"]].to_numpy(),
                )
            )
    if not tests:
        return CLAIM.not_tested("no gated run matches a tanh RNN's settings")
    control = runs[where(runs, ("simple_rnn",), candidate="tanh") & (runs["task"] == "adding")]
    control = control[control["length"] < length]
    rates = control.groupby("task_label")["solved"].mean() if len(control) else pd.Series()
    passed = bool(len(rates)) and rates.max() >= CONTROL_RATE
    control_line = (
        "positive control: "
        + (
            "; ".join(
                f"tanh simple RNN on {label}: {int(control[control['task_label'] == label]['solved'].sum())}"
                f"/{int((control['task_label'] == label).sum())} solved"
                for label in rates.index
            )
            if len(rates)
            else "none in the grid (a tanh simple RNN on a shorter adding task)"
        )
        + (" -> passed" if passed else " -> not passed")
    )
    medians = [
        f"{name}: median D at initialisation {start[frame['run_id']].median():+.2f}, at the end "
        f"of training {end[frame['run_id']].median():+.2f} orders of magnitude ({len(frame)} runs)"
        for name, frame in arms.items()
    ]
    _, at_init = significance.decide(
        [replace(c, label=c.label + " at initialisation") for c in at_init], A_BETTER
    )
    finding = CLAIM.decide(A_BETTER, tests, [], arms, [*medians, control_line], at_init)
    if finding.verdict == SUPPORTED and not passed:
        return replace(finding, verdict=INCONCLUSIVE)
    return finding


def advice(judged: dict[str, Finding]) -> None:
    """None: F3's verdict is worded with F7's, in F7's "Ungated cells" sentence."""
    return None
