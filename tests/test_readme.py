"""The README's snippet runs as printed."""
import os
import re

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_readme_snippet_runs(capsys):
    text = open(README, encoding="utf-8").read()
    section = text.split("## Use `GlobalContext3d` in your own network", 1)[1]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "layer3.0.conv2.context" in out and out.count("torch.Size([1, 10])") == 3 and "\n26\n" in out


def test_readme_names_the_two_commands_and_ci_runs_the_test_one():
    text = open(README, encoding="utf-8").read()
    assert "make demo" in text and "make test" in text
    ci = open(os.path.join(os.path.dirname(README), ".ci", "run")).read()
    assert "exec make test" in ci
