"""Reusable flows (`include:`): parameters, positions in both files, cycles and depth.
Through the real CLI (`patrol validate`), as a person writing journeys sees them."""

from __future__ import annotations

from pathlib import Path

import pytest

from patrol.cli import main
from patrol.journey.loader import load_journey

HEAD = "name: t\nbase_url: http://127.0.0.1:1\nsteps:\n"
FLOW = """\
params:
  user: {default: demo}
  password: {}
steps:
  - name: open login page
    goto: /login
  - name: enter username
    fill: {selector: "#username", text: "${params.user}"}
  - name: enter password
    fill: {selector: "#password", text: "${params.password}"}
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def problems(capsys, path: Path) -> list[str]:
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err, err
    return [line for line in err.splitlines() if line.strip()]


def test_a_flow_is_expanded_with_its_params_and_defaults(tmp_path):
    write(tmp_path, "flows/login.yaml", FLOW)
    j = write(tmp_path, "j.yaml", HEAD + "  - include: flows/login.yaml\n    with: {password: s3cret}\n"
                                         "  - name: sign in\n    click: '#go'\n")
    journey = load_journey(j)
    assert [(s.index, s.name) for s in journey.steps] == [
        (1, "open login page"), (2, "enter username"), (3, "enter password"), (4, "sign in")]
    assert journey.steps[1].params[1] == "demo", "the param's default"
    assert journey.steps[2].params[1] == "s3cret", "the value passed with:"
    assert journey.steps[2].file.endswith("flows/login.yaml") and journey.steps[2].line == 9
    assert journey.steps[3].file == str(j)


def test_the_same_flow_in_three_journeys_with_different_values(tmp_path):
    write(tmp_path, "flows/login.yaml", FLOW)
    users = ["alice", "bob", "carol"]
    for user in users:
        write(tmp_path, f"{user}.yaml", HEAD.replace("name: t", f"name: {user}")
              + f"  - include: flows/login.yaml\n    with: {{user: {user}, password: pw}}\n")
    for user in users:
        assert load_journey(tmp_path / f"{user}.yaml").steps[1].params[1] == user


def test_a_missing_param_is_reported_at_the_include(tmp_path, capsys):
    write(tmp_path, "flows/login.yaml", FLOW)
    j = write(tmp_path, "j.yaml", HEAD + "  - include: flows/login.yaml\n")
    [line] = problems(capsys, j)
    assert line.startswith(f"{j}:4:5: steps.0: ") and "needs the param 'password'" in line


def test_an_unknown_param_is_reported_where_it_is_passed_with_a_suggestion(tmp_path, capsys):
    write(tmp_path, "flows/login.yaml", FLOW)
    j = write(tmp_path, "j.yaml", HEAD + "  - include: flows/login.yaml\n    with: {password: x, usr: y}\n")
    [line] = problems(capsys, j)
    assert line.startswith(f"{j}:5:25: steps.0.with.usr: ") and "has no param 'usr'" in line
    assert "did you mean 'user'" in line


def test_a_problem_inside_a_flow_has_the_flows_own_position_and_names_the_include(tmp_path, capsys):
    flow = write(tmp_path, "flows/login.yaml", FLOW.replace("goto: /login", "goto: [1]"))
    j = write(tmp_path, "j.yaml", HEAD + "  - goto: /\n  - include: flows/login.yaml\n    with: {password: x}\n")
    [line] = problems(capsys, j)
    assert line.startswith(f"{flow}:6:11: steps.0.goto: expected a string"), line
    assert f"(in the flow included at {j}:5:5)" in line


def test_an_unknown_param_reference_in_a_flow_is_reported_in_the_flow(tmp_path, capsys):
    flow = write(tmp_path, "flows/login.yaml", FLOW.replace("${params.user}", "${params.usr}"))
    j = write(tmp_path, "j.yaml", HEAD + "  - include: flows/login.yaml\n    with: {password: x}\n")
    [line] = problems(capsys, j)
    assert line.startswith(f"{flow}:8:") and "unknown param 'usr'" in line and "did you mean 'user'" in line


def test_an_include_cycle_is_refused_with_the_chain(tmp_path, capsys):
    a = write(tmp_path, "flows/a.yaml", "steps:\n  - include: b.yaml\n")
    write(tmp_path, "flows/b.yaml", "steps:\n  - goto: /\n  - include: a.yaml\n")
    j = write(tmp_path, "j.yaml", HEAD + "  - include: flows/a.yaml\n")
    lines = problems(capsys, j)
    assert any("include cycle: j.yaml -> a.yaml -> b.yaml -> a.yaml" in line for line in lines), lines
    assert any(line.startswith(f"{tmp_path / 'flows' / 'b.yaml'}:3:14: steps.1.include: ") for line in lines), lines
    assert a.exists()


def test_flows_nest_only_so_deep(tmp_path, capsys):
    for n in range(8):
        write(tmp_path, f"flows/f{n}.yaml", f"steps:\n  - include: f{n + 1}.yaml\n")
    write(tmp_path, "flows/f8.yaml", "steps:\n  - goto: /\n")
    j = write(tmp_path, "j.yaml", HEAD + "  - include: flows/f0.yaml\n")
    assert any("flows nest more than 5 deep" in line for line in problems(capsys, j))


def test_a_missing_flow_file_and_unknown_include_keys(tmp_path, capsys):
    j = write(tmp_path, "j.yaml", HEAD + "  - include: flows/nope.yaml\n    wiht: {}\n")
    lines = problems(capsys, j)
    assert any(line.startswith(f"{j}:5:5: steps.0.wiht: ") and "did you mean 'with'" in line for line in lines), lines
    assert any(line.startswith(f"{j}:4:5: steps.0: ") and "no flow file" in line for line in lines), lines


def test_step_names_stay_unique_across_flows(tmp_path, capsys):
    write(tmp_path, "flows/login.yaml", FLOW)
    j = write(tmp_path, "j.yaml", HEAD + "  - include: flows/login.yaml\n    with: {password: x}\n"
                                         "  - name: enter username\n    click: '#x'\n")
    [line] = problems(capsys, j)
    assert line.startswith(f"{j}:6:11: name: step name 'enter username' is already used by step 2"), line


@pytest.mark.parametrize("folder", ["flows", "sub/flows"])
def test_files_in_a_flows_folder_are_not_journeys(tmp_path, capsys, folder):
    write(tmp_path, f"{folder}/login.yaml", FLOW)
    write(tmp_path, "j.yaml", HEAD + f"  - include: {folder}/login.yaml\n    with: {{password: x}}\n")
    assert main(["validate", str(tmp_path)]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    assert "j.yaml" in out and "login.yaml" not in out
