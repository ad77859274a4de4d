"""The config base: JSON round trip, unknown keys and wrong types refused by name, ranges."""

from dataclasses import dataclass

import pytest

from ganflow.models.config import Config, ConfigError, param, parse_setting


@dataclass
class Toy(Config):
    rate: float = param(0.1, "a rate")
    steps: int = 10
    on: bool = True
    name: str = "a"
    cap: float | None = None
    seeds: list[int] = param([0], "seeds")

    def validate(self) -> None:
        self.require("at least 1", "steps")
        self.require("in [0, 1)", "rate")
        self.require("positive", "cap")


def test_round_trip_and_ints_for_floats():
    t = Toy(rate=0.5, steps=3, seeds=[1, 2])
    assert Toy.from_dict(t.to_dict()) == t
    assert Toy.from_dict({"rate": 0}).rate == 0.0 and isinstance(
        Toy.from_dict({"rate": 0}).rate, float
    )
    assert Toy().with_overrides({"cap": None, "seeds": [3]}).seeds == [3]


@pytest.mark.parametrize(("bad", "says"), [
    ({"on": "maybe"}, "on='maybe': expected bool"),
    ({"steps": 2.5}, "steps=2.5: expected int"),
    ({"steps": True}, "steps=True: expected int"),
    ({"rate": "abc"}, "rate='abc': expected float"),
    ({"cap": "x"}, "cap='x': expected float or null"),
    ({"seeds": [1, "a"]}, r"seeds\[1\]='a': expected int"),
    ({"stepz": 1}, r"unknown Toy setting\(s\) \['stepz'\]"),
    ({"steps": 0}, "steps must be at least 1, got 0"),
    ({"rate": 1.0}, r"rate must be in \[0, 1\), got 1.0"),
    ({"cap": -1.0}, "cap must be positive, got -1.0"),
])  # fmt: skip
def test_bad_values_are_refused_by_name(bad, says):
    with pytest.raises(ConfigError, match=says):
        Toy().with_overrides(bad)


def test_from_dict_refuses_unknown_keys_with_their_names():
    with pytest.raises(
        ConfigError, match=r"unknown Toy key\(s\) \['x'\]; known: cap, name, on, rate, seeds, steps"
    ):
        Toy.from_dict({"x": 1})


def test_parse_setting_reads_json_else_a_string():
    assert parse_setting("a=1e-3") == ("a", 1e-3)
    assert parse_setting("b=true") == ("b", True)
    assert parse_setting("c=hinge") == ("c", "hinge")
    assert parse_setting("d=[1, 2]") == ("d", [1, 2])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        parse_setting("novalue")


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_a_non_finite_number_is_in_no_settings_domain(value):
    from ganflow.models.gan.config import GANConfig

    with pytest.raises(ConfigError, match="expected a finite number"):
        GANConfig().with_overrides({"lr_g": value})
