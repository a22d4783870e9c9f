"""The command line: tool commands built from typed run_* functions, and what they print."""
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
import typing
from typing import Literal, Optional

import docstring_parser
import pytest

from gcvideo.cli import COMMANDS, build_parser, main, tool_function
from gcvideo.tools.commands import add_command, call

README = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "README.md")


def test_models_lists_the_registry(capsys):
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in ["slow_r50", "slow_r50_gc", "slow_r50_gc5", "slow_r50_snl5", "slow_r50_nl5", "slow_r50_se",
                 "slowfast_r50_gc", "x3d_m_gc", "i3d_r50_gc", "r3d_18_gc", "s3d_gc"]:
        assert f"\n{name} " in "\n" + out


def test_info_json_reports_measured_cost(capsys):
    assert main(["info", "slow_r50_gc5", "--frames", "2", "--size", "64", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["params"] == 32_921_808   # 5 GC blocks: W_k (no bias), C->C/16->C with LN and row["frames"] == 2
    assert 0 < row["d_flops_pct"] < 1 and row["d_params_pct"] > 1


def test_info_errors_are_messages_not_tracebacks(capsys):
    assert main(["info", "slow_r99"]) == 2
    assert "unknown model 'slow_r99'" in capsys.readouterr().err
    assert main(["info"]) == 2


def test_info_compares_other_networks_with_their_own_plain_network_at_their_recipe_clip(capsys):
    """`info` rows for the other families: Δ against the same family's plain net."""
    assert main(["info", "x3d_m_gc", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["baseline"], row["frames"], row["size"]) == ("x3d_m", 16, 224)
    assert 0 < row["d_flops_pct"] < 1 and 0 < row["d_params_pct"] < 5
    assert main(["info", "slowfast_r50", "--size", "64", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    assert (row["baseline"], row["frames"], row["d_flops_pct"]) == ("slowfast_r50", 32, 0.0)



# --- the command mechanism (gcvideo.tools.commands): signatures and docstrings are the CLI ---


def _sample(source: str, more: list[str] = (), /, *, num_frames: int = 8, rate: float = 30.0,
            backend: Literal["pyav", "decord"] = "pyav", root: Optional[str] = None, list_: list[str] = (),
            ckpt_path: str, json: bool = False) -> int:
    """one line

    Longer text, 100% of it.

    Args:
        source: the source
        more: more sources
        num_frames: frames
        rate: a rate
        backend: decoder
        root: a folder
        list_: lists
        ckpt_path: a checkpoint
        json: print JSON
    """
    return {"source": source, "more": more, "num_frames": num_frames, "rate": rate, "backend": backend,
            "root": root, "list_": list_, "ckpt_path": ckpt_path, "json": json}


def _parser():
    import argparse

    parser = argparse.ArgumentParser(prog="x")
    add_command(parser.add_subparsers(dest="command"), "sample", _sample)
    return parser


def test_a_signature_becomes_a_command_line():
    parser = _parser()
    args = parser.parse_args(["sample", "a.csv", "b.csv", "c.csv", "--num-frames", "4", "--rate", "25",
                              "--backend", "decord", "--list", "x", "y", "--list", "z", "--ckpt_path", "m.ckpt",
                              "--json"])
    assert call(_sample, args) == {"source": "a.csv", "more": ["b.csv", "c.csv"], "num_frames": 4, "rate": 25.0,
                                   "backend": "decord", "root": None, "list_": ["x", "y", "z"],
                                   "ckpt_path": "m.ckpt", "json": True}
    # both spellings of an option; defaults from the signature
    args = parser.parse_args(["sample", "a.csv", "--num_frames", "2", "--ckpt-path", "m.ckpt"])
    assert call(_sample, args) == {"source": "a.csv", "more": [], "num_frames": 2, "rate": 30.0, "backend": "pyav",
                                   "root": None, "list_": [], "ckpt_path": "m.ckpt", "json": False}


@pytest.mark.parametrize("argv, message", [
    (["sample", "a.csv"], "the following arguments are required: --ckpt-path"),
    (["sample", "a.csv", "--ckpt_path", "m", "--backend", "ffmpeg"], "invalid choice: 'ffmpeg'"),
    (["sample", "a.csv", "--ckpt_path", "m", "--num-frames", "many"], "invalid int value: 'many'"),
    (["sample", "a.csv", "--ckpt_path", "m", "--json", "true"], "unrecognized arguments: true"),
])
def test_bad_command_lines_are_argparse_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as done:
        _parser().parse_args(argv)
    assert done.value.code == 2 and message in capsys.readouterr().err


def test_help_comes_from_the_docstring_and_the_signature(capsys):
    with pytest.raises(SystemExit):
        _parser().parse_args(["sample", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "one line Longer text, 100% of it." in out
    assert "--num-frames NUM_FRAMES, --num_frames NUM_FRAMES frames (default: 8)" in out
    assert "--list LIST [LIST ...] lists" in out and "--json print JSON" in out
    assert "--root ROOT a folder --list" in out          # None defaults are not printed


@pytest.mark.parametrize("words", list(COMMANDS), ids=" ".join)
def test_every_tool_documents_every_argument(words, capsys):
    """One source of help: each run_* function's docstring has a summary and a line per parameter."""
    func = tool_function(COMMANDS[words])
    doc = docstring_parser.parse(inspect.getdoc(func))
    assert doc.short_description, words
    documented = {p.arg_name for p in doc.params}
    assert documented == set(inspect.signature(func).parameters), words
    typing.get_type_hints(func)                              # every annotation resolves
    with pytest.raises(SystemExit) as done:
        main([*words, "--help"])
    assert done.value.code == 0 and doc.short_description.split()[0] in capsys.readouterr().out


def test_a_command_imports_only_its_own_tool():
    code = ("import sys; from gcvideo.cli import build_parser; build_parser(('models',)).parse_args(['models']); "
            "print(sorted(m for m in sys.modules if m.startswith('gcvideo.tools.') and m != 'gcvideo.tools.commands'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['gcvideo.tools.info']"


@pytest.mark.parametrize("argv", [["--help"], ["configs"], ["models"], ["data", "--help"], [],
                                  ["info", "slow_r50_gc"], ["info", "--all"]])
def test_listing_commands_start_without_torch(argv):
    """``gcvideo --help``, ``configs`` and ``models`` answer without importing torch, pytorchvideo or
    Lightning (benchmarks/cli_startup.py measures the time; here: what is imported); the command
    list still shows every command's summary, read from its tool's source."""
    code = ("import sys; from gcvideo.cli import main\n"
            f"try:\n    main({argv!r})\nexcept SystemExit:\n    pass\n"
            "print('HEAVY', sorted(m for m in ('torch', 'pytorchvideo', 'pytorch_lightning', 'torchvision') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "HEAVY []", out
    if argv == ["--help"]:
        assert "list registered models" in out and "a checkpoint's 30-view" in out
    if argv == ["models"]:
        assert "slow_r50_gc " in out
    if argv[:1] == ["info"]:                  # at the recipe clip: the catalog's recorded cost
        assert "slow_r50_gc        8x224       34.98    41.97    +7.77%   +0.125%  slow_r50" in out


def test_info_measure_counts_the_networks_again_and_agrees_with_the_record(capsys):
    assert main(["info", "r3d_18_gc", "--json"]) == 0
    recorded = json.loads(capsys.readouterr().out)
    assert main(["info", "r3d_18_gc", "--measure", "--json"]) == 0
    counted = json.loads(capsys.readouterr().out)
    assert (recorded.pop("source"), counted.pop("source")) == ("recorded", "counted")
    assert counted == recorded


def test_command_summaries_read_from_source_are_the_docstrings():
    from gcvideo.cli import tool_summary

    for spec in COMMANDS.values():
        assert tool_summary(spec) == tool_function(spec).__doc__.strip().splitlines()[0], spec


def _readme_tool_lines() -> list[str]:
    text = open(README, encoding="utf-8").read()
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split("#")[0].strip()
            if line.startswith("gcvideo ") and line.split()[1] not in ("fit", "validate", "test"):
                lines.append(line)
    # the command table and inline mentions with arguments (placeholders such as OUT, CKPT or N become a value;
    # a bare `gcvideo predict` names the command)
    for span in re.findall(r"`(gcvideo [^`]+)`", text):
        if span.split()[1] not in ("fit", "validate", "test") and not re.search(r"\.\.\.|\[|\|", span) \
                and tuple(span.split()[1:]) not in COMMANDS:
            lines.append(re.sub(r"\b[A-Z]+\b", "1", span))
    return lines


def test_every_documented_tool_command_line_parses():
    lines = _readme_tool_lines()
    assert len(lines) > 10
    for line in lines:
        argv = shlex.split(line)[1:]
        chosen = next(words for words in COMMANDS if tuple(argv[:len(words)]) == words)
        try:
            args = build_parser(chosen).parse_args(argv)
        except SystemExit:
            pytest.fail(f"README: {line!r} does not parse")
        assert args.func is tool_function(COMMANDS[chosen])


def test_help_lists_the_lightning_commands_too():
    from gcvideo.cli import build_parser

    text = build_parser(only=()).format_help()
    for command in ("fit", "validate", "test"):
        assert f"    {command} " in text, command


def test_fit_help_opens_with_a_guide_and_explains_every_gcvideo_option(capsys):
    import re

    with pytest.raises(SystemExit):
        main(["fit", "--help"])
    text = capsys.readouterr().out
    assert text.startswith("usage: gcvideo fit [--config FILE_OR_NAME ...]")
    assert text.index("What most runs set:") < text.index("--trainer.accelerator")
    entries = re.split(r"\n(?=  --)", text[text.index("\noptions:"):])
    ours = [e for e in entries if e.lstrip().startswith(("--model.", "--data.", "--trust_checkpoint",
                                                         "--checkpoint_every_n_epochs"))]
    assert len(ours) > 50
    for entry in ours:
        name, _, rest = entry.strip().partition(" ")
        words = " ".join(rest.split()[1:] if rest.split() and rest.split()[0].isupper() else rest.split())
        assert not words.startswith("(type:") and not re.match(r"^\{[a-z,]+\} \(type:", words), \
            f"{name} has no explanation: {entry.strip()!r}"


@pytest.mark.parametrize("config, said", [
    ("trainer: {max_epochs: 3\n", "not valid YAML at line 2, column 1"),
    ("trainer:\n\tmax_epochs: 3\n", "found character '\\t'"),
    ("trainer: !!python/object:os.system {}\n", "could not determine a constructor"),
    ("a: &x {b: *x}\n", "an alias refers to itself"),
    ("root:x:0:0:root:/root:/bin/bash\n", "is not a config: a config is a YAML mapping"),
])
def test_a_bad_config_file_is_one_line(tmp_path, capsys, config, said):
    path = tmp_path / "bad.yaml"
    path.write_text(config)
    assert main(["fit", "--config", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and said in err[0] and "bad.yaml" in err[0], err


def test_outputs_under_a_file_or_through_a_dangling_link_are_one_line(tmp_path, capsys):
    (tmp_path / "file").write_text("")
    for argv in (["configs", "models/gc.yaml", "--copy", str(tmp_path / "file" / "gc.yaml")],
                 ["data", "synth", str(tmp_path / "file" / "data")],
                 ["report", "costs", "--out", str(tmp_path / "file" / "costs.md")],
                 ["info", "slow_r50", "--frames", "-1"], ["info", "slow_r50", "--size", "30000"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and ("is a file, not a folder" in err[0] or "--frames must be" in err[0]), (argv, err)
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere" / "x.yaml")
    assert main(["configs", "models/gc.yaml", "--copy", str(tmp_path / "dangling.yaml")]) == 2
    assert "link to nothing" in capsys.readouterr().err and not (tmp_path / "nowhere").exists()
    assert main(["configs", "models/gc.yaml", "--copy", str(tmp_path / "gc.yaml")]) == 0
    assert main(["configs", "models/gc.yaml", "--copy", str(tmp_path / "gc.yaml")]) == 2
    assert "--overwrite" in capsys.readouterr().err
    assert main(["configs", "models/gc.yaml", "--copy", str(tmp_path / "gc.yaml"), "--overwrite"]) == 0


def test_a_closed_pipe_ends_quietly():
    """`gcvideo configs | head -2`: the reader leaves early; gcvideo stops without a traceback."""
    proc = subprocess.Popen([sys.executable, "-m", "gcvideo.cli", "configs"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()             # what `head` does after its lines; here before the first (deterministic)
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141 and "Traceback" not in err and "BrokenPipe" not in err, err
