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


def test_readme_cost_table_is_the_catalogs():
    """The README's "Models and their cost" rows are the figures `gcvideo info` prints (recorded in the
    catalog, counted again in test_models_registry)."""
    from gcvideo.models.catalog import MODELS

    text = open(README, encoding="utf-8").read()
    rows = re.findall(r"^\| `(\w+)` \| [^|]+ \| [^|]+ \| ([\d.]+) \| ([\d.]+) \|", text, re.M)
    assert {name for name, _, _ in rows} == set(MODELS)
    for name, params_m, gflops in rows:
        assert (params_m, gflops) == (f"{MODELS[name].params / 1e6:.2f}", f"{MODELS[name].flops / 1e9:.2f}"), name
