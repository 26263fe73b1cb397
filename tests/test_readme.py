"""The README's first lines are the two set-up commands, and CI runs the second."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    lines = (ROOT / "README.md").read_text().splitlines()
    assert lines[0] == "```sh" and lines[3] == "```"
    demo, tests = lines[1], lines[2]
    assert demo.endswith("cdmer demo") and "pip install" in demo
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci
