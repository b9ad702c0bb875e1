import datetime as dt

import pytest

from health_monitor.simulate import DEFAULT_END_DATE, SCALES, SimulationConfig, simulate_account


def test_defaults_do_not_depend_on_today():
    c = SimulationConfig()
    assert c.end_date == DEFAULT_END_DATE
    assert c.n_days == SCALES["small"].days
    assert c.start_date == DEFAULT_END_DATE - dt.timedelta(days=c.n_days - 1)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"scale": "huge"}, "scale"),
        ({"days": 13}, "days"),
        ({"days": 20.0}, "days"),
        ({"seed": "7"}, "seed"),
        ({"seed": 1.5}, "seed"),
        ({"seed": True}, "seed"),
        ({"end_date": dt.datetime(2025, 1, 1)}, "end_date"),
        ({"incidents": 0}, "incidents"),
        ({"incidents": 51}, "incidents"),
        ({"incidents": True}, "incidents"),
    ],
)
def test_bad_config_names_the_argument(kwargs, needle):
    with pytest.raises(ValueError, match=needle):
        SimulationConfig(**kwargs)


def test_unknown_scale_lists_valid_values():
    with pytest.raises(ValueError) as err:
        SimulationConfig(scale="huge")
    for name in SCALES:
        assert name in str(err.value)


def test_progress_is_called_per_step(tiny_config):
    steps = []
    simulate_account(tiny_config, progress=steps.append)
    assert steps[0] == "entities" and "cost" in steps and steps[-1] == "ground truth"
