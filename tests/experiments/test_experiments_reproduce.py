"""End to end: the tiny plan writes the CSV, every figure (PNG + SVG) and the report; a rerun is a no-op."""

from __future__ import annotations

import json

import pytest

from goalit.cli import main
from goalit.experiments.catalogue import EXPERIMENTS, plan_points
from goalit.experiments.markdown import est, num
from goalit.experiments.plan import TUNE_SEED_BASE, make_plan
from goalit.experiments.reproduce import reproduce
from goalit.experiments.results import estimate, load_rows
from goalit.experiments.store import read_rows
from goalit.experiments.tuning import evaluation_points

FIGURES = ("headline_decomposition", "e1_throughput", "e2_latency", "e2_ttft_tpot", "e3_perplexity", "e3_level_share", "e4_convergence",
           "e5_updates", "e6_runtime", "e7_poa", "e8_servers", "e9_tradeoff", "e10_sensitivity")  # fmt: skip


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("tiny")
    res = reproduce(out, "tiny", jobs=1, progress=False)
    return out, res


@pytest.mark.slow
def test_reproduce_tiny_writes_csv_figures_and_report(tiny_run):
    out, res = tiny_run
    plan = make_plan("tiny")
    stage1 = plan_points(plan)
    stage2 = evaluation_points(plan, stage1, load_rows(out / "results.csv"))
    points = stage1 + stage2
    rows = read_rows(out / "results.csv")
    assert [(r["config_hash"], int(r["seed"])) for r in rows] == [p.key for p in points]
    assert {r["experiment"] for r in rows} == set(EXPERIMENTS) - {"traces"}  # no --traces: skipped
    # stage 2 evaluates every tuned (policy, config) on the evaluation seeds only, at one epoch each
    assert stage2 and {p.seed for p in stage2} == set(plan.seed_list) | set(plan.capacity_seed_list)
    tuned1 = [
        p for p in stage1 if p.experiment in ("load", "capacity") and p.config.get("epoch_s") is not None
    ]
    assert tuned1 and all(p.seed >= TUNE_SEED_BASE for p in tuned1)  # E1-E3: grid on tuning seeds only
    assert res.sweep.computed == len(points)
    for name in FIGURES:
        png, svg = out / "figures" / f"{name}.png", out / "figures" / f"{name}.svg"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
        assert b"<svg" in svg.read_bytes()[:2000], name
    report = (out / "report.md").read_text()
    needles = ["+27 %", "−20 %", "lower", "### Against the paper", "best of a grid", "### Capacity at SLO",
               "Verdict rules (fixed before running)", "decision effect, path A", "batching (B)",
               "Steady-state throughput (tokens/s, primary)", "Skipped: no traces directory given",
               "Produced by commit"]  # fmt: skip
    for needle in needles + [f"## E{k}" for k in range(4, 11)]:
        assert needle in report, needle
    for name in FIGURES:
        assert f"figures/{name}.png" in report or name == "e3_level_share"
    plan_json = json.loads((out / "plan.json").read_text())
    assert plan_json["mode"] == "tiny" and plan_json["seeds"] == 2


@pytest.mark.slow
def test_reproduce_tiny_capacity_of_local_is_below_goalit_on_every_seed(tiny_run):
    out, _ = tiny_run
    rows = [r for r in load_rows(out / "results.csv") if r["experiment"] == "capacity"]
    cap = {(r["policy"], r["seed"]): r["capacity_rps"] for r in rows if r["seed"] < TUNE_SEED_BASE}
    seeds = make_plan("tiny").capacity_seed_list
    assert all(cap[("local", s)] < cap[("goalit", s)] for s in seeds)
    assert all(cap[("goalit", s)] > 1.0 for s in seeds)  # GOALIT sustains more than the bracket's floor


@pytest.mark.slow
def test_reproduce_rerun_skips_everything_and_keeps_the_bytes(tiny_run):
    out, _ = tiny_run
    before = (out / "results.csv").read_bytes()
    report = (out / "report.md").read_bytes()
    svg = (out / "figures" / "e5_updates.svg").read_bytes()
    res = reproduce(out, "tiny", jobs=1, progress=False)
    assert res.sweep.computed == 0 and res.sweep.skipped == res.sweep.total
    assert (out / "results.csv").read_bytes() == before
    assert (out / "report.md").read_bytes() == report
    assert (out / "figures" / "e5_updates.svg").read_bytes() == svg


@pytest.mark.slow
def test_reproduce_report_has_the_dynamic_decisions_of_e4_e5_from_the_rows(tiny_run):
    out, _ = tiny_run
    rows = [
        r for r in load_rows(out / "results.csv") if r["experiment"] == "load" and r["policy"] == "goalit"
    ]
    assert rows and all(r["decisions"] > 0 and r["players_per_decision_mean"] >= 1 for r in rows)
    report = (out / "report.md").read_text()
    e4 = report[report.index("## E4") : report.index("## E5")]
    e5 = report[report.index("## E5") : report.index("## E6")]
    assert "### Dynamic decisions (E1-E3 runs)" in e4
    for rate in sorted({r["config"]["rate_per_s"] for r in rows}):
        g = [r for r in rows if r["config"]["rate_per_s"] == rate]
        cells = [
            "GOALIT",
            num(rate),
            est(estimate(g, "decisions")),
            est(estimate(g, "players_per_decision_mean")),
            est(estimate(g, "players_per_decision_p95")),
            str(max(r["players_per_decision_max"] for r in g)),
        ]
        assert "| " + " | ".join(cells) + " |" in e4, cells
        players = estimate(g, "players_per_decision_mean").mean
        assert f"{num(players)} players and" in e5
    assert "players: " in e5 and "slots per decision at" in e5


def test_reproduce_cli_rejects_bad_flags_with_one_line_and_exit_2(tmp_path, capsys):
    out = tmp_path / "o"
    assert main(["reproduce", "--mode", "tiny", "--out", str(out), "--scheduler", "tcp://x:1"]) == 2
    assert main(["reproduce", "--mode", "tiny", "--out", str(out), "--only", "E99"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 2 and all(line.startswith("goalit: error: ") for line in err)
    assert not out.exists()
    with pytest.raises(SystemExit) as exc:
        main(["reproduce", "--jobs", "0"])
    assert exc.value.code == 2


def test_reproduce_unreachable_scheduler_leaves_nothing_behind(tmp_path, monkeypatch, capsys):
    from goalit.experiments import sweep

    monkeypatch.setattr(sweep, "CONNECT_TIMEOUT", "1s")
    out = tmp_path / "o"
    code = main(["reproduce", "--mode", "tiny", "--only", "E5", "--out", str(out), "--backend", "dask",
                 "--scheduler", "tcp://127.0.0.1:9", "--no-progress"])  # fmt: skip
    assert code == 2
    assert capsys.readouterr().err.startswith("goalit: error: --scheduler tcp://127.0.0.1:9: cannot connect")
    assert not out.exists()


def test_reproduce_cli_runs_a_selection(tmp_path, capsys):
    out = tmp_path / "o"
    code = main(["reproduce", "--mode", "tiny", "--out", str(out), "--only", "E5,poa", "--jobs", "1",
                 "--no-progress"])  # fmt: skip
    assert code == 0
    text = capsys.readouterr().out
    assert "computed" in text and str(out / "report.md") in text
    rows = read_rows(out / "results.csv")
    assert {r["experiment"] for r in rows} == {"updates", "poa"}
    report = (out / "report.md").read_text()
    assert "## E5" in report and "## E7" in report and "## E4" not in report
    assert (out / "figures" / "e5_updates.png").exists() and not (
        out / "figures" / "e4_convergence.png"
    ).exists()


def test_reproduce_selection_by_id_or_name_and_bad_out(tmp_path):
    from goalit.errors import GoalitInputError
    from goalit.experiments.reproduce import check_experiments

    assert check_experiments(("E1", "e3", "poa", "E7")) == ("load", "poa")
    assert check_experiments(None) is None
    assert check_experiments(("E11",)) == ("placement",)
    with pytest.raises(GoalitInputError, match="unknown experiment"):
        check_experiments(("E12",))
    f = tmp_path / "file"
    f.write_text("x")
    with pytest.raises(GoalitInputError, match="not a directory"):
        reproduce(f, "tiny", progress=False)


def test_reproduce_dry_run_prints_the_cost_and_writes_nothing(tmp_path, capsys, monkeypatch):
    from goalit.experiments.reproduce import estimate_cost

    monkeypatch.chdir(tmp_path)
    assert main(["reproduce", "--mode", "tiny", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "capacity" in out and "total" in out and "traces: skipped" in out
    assert not (tmp_path / "results").exists()
    plan = make_plan("tiny")
    lines = {c.experiment: c for c in estimate_cost(plan)}
    stage1 = plan_points(plan)
    # stage 2 adds one evaluation point per tuned configuration and evaluation seed
    assert lines["load"].points > len([p for p in stage1 if p.experiment == "load"])
    assert lines["capacity"].simulations > lines["capacity"].points  # a capacity point bisects
    assert lines["poa"].simulations == 0 and lines["poa"].cpu_s is None
    assert main(["reproduce", "--mode", "tiny", "--dry-run", "--traces", str(tmp_path / "none")]) == 2
