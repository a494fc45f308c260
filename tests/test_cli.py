"""The command line: `python -m featcf demo` in text and JSON form."""

from __future__ import annotations

import json

import pytest

from featcf.__main__ import main


def test_demo_text(capsys):
    assert main(["demo", "--customers", "60", "--seed", "1"]) == 0
    out = capsys.readouterr().out
    assert "synthetic online insurance shop" in out
    assert "item fields: category" in out
    for section in (
        "Learned weights",
        "long-standing",
        "single-purchase",
        "brand-new, demographics-only",
        "Launching P-NEW-TRAVEL",
        "cold customers",
    ):
        assert section in out
    assert "because" in out and " = " in out  # reasons name a field value


def test_demo_json_parses_and_repeats_per_seed(capsys):
    main(["demo", "--customers", "60", "--seed", "2", "--json"])
    first = json.loads(capsys.readouterr().out)
    main(["demo", "--customers", "60", "--seed", "2", "--json"])
    second = json.loads(capsys.readouterr().out)
    first.pop("seconds"), second.pop("seconds")
    assert first == second
    assert first["dataset"]["items"] == 40
    assert len(first["recommendations"]) == 3
    assert len(first["launch"]["audience"]) == 10
    assert all(w >= 0 for w in first["feature_weights"].values())
    protocols = {row["protocol"] for row in first["cold_customers"]}
    assert protocols == {"demographics only", "1 purchase known"}


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "demo" in capsys.readouterr().out


def test_bad_customers():
    with pytest.raises(SystemExit):
        main(["demo", "--customers", "3"])
