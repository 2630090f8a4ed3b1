"""Tests for surveys.stats.power."""

import math

import pytest

from surveys.stats.power import _n_required, minimum_detectable_change, sample_size_two_proportions


def test_fanta_worked_example_rounded_z():
    # FANTA magnitude-of-change guide: 0.40 -> 0.30, one-sided alpha .05 (Z = 1.645),
    # power .80 (Z = 0.84), D = 2: n = 555.77 -> 556 per round.
    n = _n_required(0.40, 0.30, 1.645, 0.84, "fanta", 2.0)
    assert round(n, 2) == 555.77
    assert math.ceil(n) == 556


def test_fanta_worked_example_exact_z():
    # Same example with exact quantiles z_.95 = 1.6448536, z_.80 = 0.8416212 (scipy):
    # n = 2 * (1.6448536 + 0.8416212)^2 * 0.45 / 0.01 = 556.43
    r = sample_size_two_proportions(0.40, 0.30, sided=1, design_effect=2)
    assert r.z_alpha == pytest.approx(1.6448536269514729, rel=1e-12)
    assert r.z_beta == pytest.approx(0.8416212335729143, rel=1e-12)
    assert r.n_raw == pytest.approx(556.4301508817789, rel=1e-10)
    assert r.n == 557 and r.n_inflated == 557


def test_nonresponse():
    r = sample_size_two_proportions(0.40, 0.30, sided=1, design_effect=2, nonresponse=0.10)
    assert r.n_inflated == math.ceil(556.4301508817789 / 0.9)  # 619


def test_fleiss_matches_r_power_prop_test():
    # R ?power.prop.test: power.prop.test(p1 = .50, p2 = .75, power = .90) => n = 76.7
    # (R 4.2.2: 76.70693011; uniroot tolerance)
    r = sample_size_two_proportions(0.50, 0.75, power=0.90, method="fleiss")
    assert r.n_raw == pytest.approx(76.70693011, abs=1e-5)
    assert r.n == 77
    # R 4.2.2: power.prop.test(p1 = .4, p2 = .3, power = .8, alternative = "one.sided")$n
    one = sample_size_two_proportions(0.40, 0.30, sided=1, method="fleiss")
    assert one.n_raw == pytest.approx(280.258107, abs=1e-5)


def test_fleiss_cc_by_hand():
    # Fleiss, Tytun & Ury (1980): n' = n/4 (1 + sqrt(1 + 4 / (n |delta|)))^2
    n = sample_size_two_proportions(0.50, 0.75, power=0.90, method="fleiss").n_raw
    expected = n / 4 * (1 + math.sqrt(1 + 4 / (n * 0.25))) ** 2
    r = sample_size_two_proportions(0.50, 0.75, power=0.90, method="fleiss_cc", design_effect=1.5)
    assert r.n_raw == pytest.approx(1.5 * expected, rel=1e-12)
    assert r.n_raw > 1.5 * n


def test_symmetry_and_design_effect():
    a = sample_size_two_proportions(0.3, 0.4)
    b = sample_size_two_proportions(0.4, 0.3)
    assert a.n_raw == pytest.approx(b.n_raw)
    c = sample_size_two_proportions(0.3, 0.4, design_effect=2)
    assert c.n_raw == pytest.approx(2 * a.n_raw)


def test_mdc_round_trip():
    r = minimum_detectable_change(556.4301508817789, 0.40, sided=1, design_effect=2)
    assert r.ok and r.direction == "increase"
    assert r.p2_decrease == pytest.approx(0.30, abs=1e-9)
    assert r.p2 == r.p2_increase and r.p2 > 0.40
    assert r.change == pytest.approx(r.p2 - 0.40)
    back = sample_size_two_proportions(0.40, r.p2_increase, sided=1, design_effect=2)
    assert back.n_raw == pytest.approx(556.4301508817789, rel=1e-8)
    down = minimum_detectable_change(556.4301508817789, 0.40, sided=1, design_effect=2, direction="decrease")
    assert down.change == pytest.approx(-0.10, abs=1e-9)


@pytest.mark.parametrize("method", ["fanta", "fleiss", "fleiss_cc"])
def test_mdc_round_trip_methods(method):
    r = minimum_detectable_change(300, 0.2, method=method)
    for p2 in (r.p2_increase, r.p2_decrease):
        assert sample_size_two_proportions(0.2, p2, method=method).n_raw == pytest.approx(300, rel=1e-8)


def test_mdc_not_detectable():
    r = minimum_detectable_change(3, 0.5)
    assert not r.ok and r.p2 is None and r.change is None and "increase" in r.reason
    edge = minimum_detectable_change(1000, 1.0)
    assert not edge.ok and edge.p2_decrease is not None and edge.p2_decrease < 1.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(p1=0.3, p2=0.3), "differ"),
        (dict(p1=0.3, p2=1.3), "p2"),
        (dict(p1=0.3, p2=0.4, sided=3), "sided"),
        (dict(p1=0.3, p2=0.4, alpha=0), "alpha"),
        (dict(p1=0.3, p2=0.4, power=0.3), "power"),
        (dict(p1=0.3, p2=0.4, design_effect=0), "design_effect"),
        (dict(p1=0.3, p2=0.4, nonresponse=1.0), "nonresponse"),
        (dict(p1=0.3, p2=0.4, method="cochran"), "method"),
    ],
)
def test_validation(kwargs, match):
    p1, p2 = kwargs.pop("p1"), kwargs.pop("p2")
    with pytest.raises(ValueError, match=match):
        sample_size_two_proportions(p1, p2, **kwargs)


def test_mdc_validation():
    with pytest.raises(ValueError, match="n"):
        minimum_detectable_change(0, 0.3)
    with pytest.raises(ValueError, match="direction"):
        minimum_detectable_change(100, 0.3, direction="up")
