"""web.dashboards.figures: the dashboard's charts as data, from a known dashboard dict (no database)."""

from __future__ import annotations

import copy

import pytest

from web.dashboards.figures import (
    PALETTE, calendar_chart, dashboard_charts, delivery_over_time_chart, dose_chart, forest_chart, item_dumbbell_chart,
    kap_breakdown_chart, kap_shift_chart, knowledge_levels_chart, radio_chart, segment_delivery_chart, segment_over_time_chart,
    training_chart,
)


def _entry(code, domain, measure, b, e, lo, hi, p, label=None, n=(100, 100)):
    return {"code": code, "domain": domain, "measure": measure, "ok": True, "label": label or code,
            "baseline": {"n": n[0], "estimate": b, "ci_low": b - 2 if measure == "mean" else b - .02,
                         "ci_high": b + 2 if measure == "mean" else b + .02},
            "endline": {"n": n[1], "estimate": e, "ci_low": e - 3 if measure == "mean" else e - .03,
                        "ci_high": e + 3 if measure == "mean" else e + .03},
            "difference": e - b, "diff_ci_low": lo, "diff_ci_high": hi, "p_adjusted": p, "significant": p < 0.05}


DOMAINS = [_entry("knowledge", "knowledge", "mean", 30.0, 42.0, 8.0, 16.0, 0.0001, "Knowledge score"),
           _entry("attitude", "attitude", "mean", 40.0, 41.0, -2.0, 4.0, 0.40, "Attitude score"),
           _entry("practice", "practice", "mean", 38.0, 50.0, 6.0, 18.0, 0.002, "Practice score")]
ITEMS = [_entry("k_law", "knowledge", "proportion", .58, .68, .04, .16, .006, "Is there a law <against> trafficking?"),
         _entry("k_hotline", "knowledge", "proportion", .30, .55, .18, .32, .0001, "Hotline number"),
         _entry("a_blame", "attitude", "proportion", .40, .38, -.08, .04, .50, "Victims are to blame"),
         _entry("p_report", "practice", "proportion", .20, .24, -.01, .09, .08, "Would report")]


def _group(value, label, k_diff, sig):
    k = _entry("knowledge", "knowledge", "mean", 30.0, 30.0 + k_diff, k_diff - 5, k_diff + 5, 0.001 if sig else 0.3,
               "Knowledge score")
    return {"by": "segment", "value": value, "label": label, "n": {"baseline": 64, "endline": 81}, "domains": [k],
            "items": []}


def _shares(n, good, moderate, poor):
    return {"n": n, **{k: {"estimate": v, "ci_low": None if v is None else v - .02, "ci_high": None if v is None else v + .02}
                       for k, v in (("good", good), ("moderate", moderate), ("poor", poor))}}


@pytest.fixture
def data():
    kap = {"ok": True, "baseline": "baseline", "endline": "endline", "correction": "holm", "subset": None,
           "respondents": {"baseline": 1200, "endline": 1200}, "domains": copy.deepcopy(DOMAINS),
           "items": copy.deepcopy(ITEMS),
           "groups": [_group("police", "Police <PNH>", 24.0, True), _group("judges", "Judges", 3.0, False)],
           "exposure": {"channels": ["radio", "sms"], "levels": ["0", "1", "2"], "domains": [
               {"code": "knowledge", "measure": "mean", "trend": {"ok": True, "slope": 15.9, "p_value": 1e-9},
                "by_dose": [{"dose": "0", "n": 50, "estimate": 25.0, "ci_low": 22.0, "ci_high": 28.0},
                            {"dose": "1", "n": 40, "estimate": 41.0, "ci_low": 37.0, "ci_high": 45.0},
                            {"dose": "2", "n": 30, "estimate": 57.0, "ci_low": 52.0, "ci_high": 62.0}]}]},
           "knowledge_levels": {
               "levels": [{"code": "good", "from": 80.0}, {"code": "moderate", "from": 60.0}, {"code": "poor", "from": None}],
               "baseline": _shares(1200, .20, .30, .50), "endline": _shares(1200, .35, .30, .35),
               "change": {"ok": True, "p_value": 0.0004, "test": "Rao-Scott F"},
               "groups": [{"value": "police", "label": "Police <PNH>", "baseline": _shares(64, .10, .40, .50),
                           "endline": _shares(81, .30, .40, .30), "change": {"ok": True, "p_value": 0.21}},
                          {"value": "judges", "label": "Judges", "baseline": _shares(0, None, None, None),
                           "endline": _shares(12, .5, .25, .25), "change": {"ok": False, "p_value": None}}]}}
    delivery = {
        "reached_messages": 1500, "unique_contacts": 300, "messages_per_contact": 5.0, "total": 1600,
        "by_day": [{"day": "2026-05-04", "reached": 100}, {"day": "2026-05-05", "reached": 0},
                   {"day": "2026-05-12", "reached": 900}],
        "channels": [{"id": 1, "name": "SMS", "by_day": [{"day": "2026-05-04", "reached": 80}, {"day": "2026-05-12", "reached": 900}]},
                     {"id": 2, "name": "Radio <Kiskeya>", "by_day": [{"day": "2026-05-05", "reached": 20}]}],
        "by_week": [{"week": "2026-05-04", "reached": 100, "unique_contacts": 90},
                    {"week": "2026-05-11", "reached": 900, "unique_contacts": 280}],
        "segments": [{"code": "police", "name": "Police", "total": 400, "reached": 380, "failed": 15, "skipped": 5,
                      "unique_contacts": 50, "by_week": [{"week": "2026-05-04", "reached": 30, "unique_contacts": 20},
                                                         {"week": "2026-05-11", "reached": 350, "unique_contacts": 45}]},
                     {"code": "general_public", "name": "General public", "total": 1200, "reached": 1120, "failed": 60,
                      "skipped": 20, "unique_contacts": 250,
                      "by_week": [{"week": "2026-05-11", "reached": 550, "unique_contacts": 240}]}],
        "radio": [{"station": "Radio Kiskeya", "planned": 100, "aired": 90, "missed": 6, "unconfirmed": 4,
                   "listeners": 300000, "frequency": 20.0},
                  {"station": "Radio Vision", "planned": 50, "aired": 45, "missed": 5, "unconfirmed": 0,
                   "listeners": 200000, "frequency": 9.0}],
        "trainings": [{"day": "2026-05-12", "name": "Judiciary", "venue": "EMA", "invited": 25, "attended": 18,
                       "absent": 7, "unrecorded": 0},
                      {"day": "2026-06-09", "name": "Judiciary", "venue": "Cap", "invited": 25, "attended": 22,
                       "absent": 3, "unrecorded": 0}]}
    return {"kap": kap, "delivery": delivery}


def test_the_kap_shift_draws_both_waves_with_their_cis_and_stars_only_the_significant_changes(data):
    chart = kap_shift_chart(data["kap"])
    baseline, endline = chart["figure"]["data"]
    assert baseline["x"] == ["Knowledge score", "Attitude score", "Practice score"]
    assert baseline["y"] == [30.0, 40.0, 38.0] and endline["y"] == [42.0, 41.0, 50.0]
    assert endline["error_y"]["array"] == pytest.approx([3, 3, 3]) and baseline["error_y"]["arrayminus"] == pytest.approx([2, 2, 2])
    stars = [a for a in chart["figure"]["layout"]["annotations"] if a["text"] == "★"]
    assert [a["x"] for a in stars] == ["Knowledge score", "Practice score"]  # attitude: p = 0.40
    assert chart["title"].startswith("Knowledge rose 12.0 points, attitude rose 1.0 points, practice rose 12.0 points")
    assert chart["figure"]["layout"]["yaxis"]["title"]["text"] == "score (0-100)"
    assert chart["table"]["rows"][1] == ["Attitude score", 40.0, 41.0, 1.0, "-2.0 to 4.0", "0.400", "no"]


def test_the_breakdown_marks_significance_by_shape_and_names_the_biggest_rise(data):
    chart = kap_breakdown_chart(data["kap"])
    (trace,) = chart["figure"]["data"]
    assert trace["y"] == ["Police &lt;PNH&gt;", "Judges"]  # user text escaped for plotly
    assert trace["x"] == [24.0, 3.0]
    assert trace["marker"]["symbol"] == ["circle", "circle-open"]
    assert chart["title"] == "By segment: knowledge score rose most among Police <PNH> (+24.0 points)"


def test_the_dumbbell_sorts_items_by_shift_colours_them_by_domain_and_stars_the_significant(data):
    chart = item_dumbbell_chart(data["kap"])
    lines, baseline, *endlines = chart["figure"]["data"]
    order = ["a_blame", "p_report", "k_law", "k_hotline"]  # smallest shift first: plotly draws bottom-up
    assert [row[0] for row in chart["table"]["rows"]] == list(reversed(order))
    assert baseline["x"] == pytest.approx([40, 20, 58, 30])
    assert lines["x"][:2] == pytest.approx([40, 38]) and lines["x"][2] is None
    knowledge = next(t for t in endlines if t["name"].startswith("Knowledge"))
    assert knowledge["marker"]["color"] == PALETTE["blue"] and knowledge["x"] == pytest.approx([68, 55])
    assert knowledge["marker"]["symbol"] == ["star", "star"]
    practice = next(t for t in endlines if t["name"].startswith("Practice"))
    assert practice["marker"]["symbol"] == ["circle"] and practice["marker"]["color"] == PALETTE["green"]
    assert chart["title"].startswith("2 of 4 items changed significantly; the largest shift: Hotline number (+25")


def test_the_forest_plot_gives_each_group_and_the_overall_estimate(data):
    chart = forest_chart(data["kap"], "knowledge")
    groups, overall = chart["figure"]["data"]
    assert groups["x"] == [24.0, 3.0] and groups["error_x"]["arrayminus"] == pytest.approx([5, 5])
    assert overall["y"] == ["Overall"] and overall["x"] == [12.0] and overall["marker"]["symbol"] == "diamond"
    assert overall["error_x"]["array"] == pytest.approx([4.0]) and overall["error_x"]["arrayminus"] == pytest.approx([4.0])
    assert chart["title"] == "Knowledge score: a significant rise in 1 of 2 groups; overall +12.0 (95% CI 8.0 to 16.0)"
    assert chart["table"]["rows"][-1][:4] == ["Overall", 1200, 1200, 12.0]
    assert forest_chart(data["kap"], "no_such_item") is None


def test_the_forest_plot_adds_the_difference_in_differences_when_there_is_a_comparison_area(data):
    data["kap"]["did"] = {"domains": [{"code": "knowledge", "ok": True, "estimate": 9.0, "ci_low": 3.0, "ci_high": 15.0,
                                       "p_value": 0.004}], "items": []}
    chart = forest_chart(data["kap"], "knowledge")
    did = chart["figure"]["data"][-1]
    assert did["name"] == "Difference in differences" and did["x"] == [9.0]
    assert did["error_x"]["arrayminus"] == pytest.approx([6.0])
    assert chart["table"]["rows"][-1] == ["DiD: intervention − comparison", None, None, 9.0, "3.0 to 15.0", "0.004"]
    assert chart["title"].endswith("intervention minus comparison areas +9.0")


def test_the_dose_chart_states_the_trend(data):
    chart = dose_chart(data["kap"])
    (trace,) = chart["figure"]["data"]
    assert trace["x"] == ["0", "1", "2"] and trace["y"] == [25.0, 41.0, 57.0]
    assert "+15.9 points per channel (trend p < 0.001)" in chart["title"]


def test_knowledge_levels_stack_good_moderate_and_poor_by_group_and_wave(data):
    chart = knowledge_levels_chart(data["kap"])
    good, moderate, poor = chart["figure"]["data"]
    assert [t["name"] for t in (good, moderate, poor)] == ["good (80-100)", "moderate (60-79)", "poor (under 60)"]
    # a wave without respondents (judges at baseline) has no bar
    assert good["x"] == [["All respondents", "All respondents", "Police &lt;PNH&gt;", "Police &lt;PNH&gt;", "Judges"],
                         ["baseline", "endline", "baseline", "endline", "endline"]]
    assert good["y"] == pytest.approx([20, 35, 10, 30, 50]) and poor["y"] == pytest.approx([50, 35, 50, 30, 25])
    assert good["marker"]["color"] == PALETTE["green"] and poor["marker"]["pattern"]["shape"] == "x"
    assert chart["figure"]["layout"]["barmode"] == "stack"
    assert chart["title"] == ("Respondents with good knowledge rose from 20% to 35%; the levels shifted significantly "
                              "(p < 0.001)")
    assert chart["table"]["rows"][1] == ["All respondents", "endline", 1200, 35.0, 30.0, 35.0, "< 0.001"]
    assert chart["table"]["rows"][3][-1] == "0.210" and chart["table"]["rows"][4][-1] == ""


def test_knowledge_levels_of_a_filtered_dashboard_show_that_group_alone(data):
    kap = data["kap"]
    kap["subset"] = {"by": "segment", "value": "police", "label": "Police"}
    kap["knowledge_levels"] = {**kap["knowledge_levels"], "groups": [], "change": {"ok": True, "p_value": 0.3}}
    chart = knowledge_levels_chart(kap)
    assert chart["figure"]["data"][0]["x"] == [["Police", "Police"], ["baseline", "endline"]]
    assert chart["title"].endswith("(Police); the shift in levels is not significant (p = 0.300)")


def test_delivery_over_time_stacks_channels_by_week_under_a_line_of_the_contacts_reached(data):
    chart = delivery_over_time_chart(data["delivery"])
    sms, radio, contacts = chart["figure"]["data"]
    assert sms["x"] == ["2026-05-04", "2026-05-11"] and sms["y"] == [80, 900] and radio["y"] == [20, 0]
    assert radio["name"] == "Radio &lt;Kiskeya&gt;"
    # Distinct contacts per week: the weekly query's, not a sum of the channels.
    assert contacts["type"] == "scatter" and contacts["y"] == [90, 280] and contacts["x"] == sms["x"]
    assert contacts["line"]["color"] == PALETTE["black"] and sms["marker"]["color"] in PALETTE.values()
    assert chart["figure"]["layout"]["barmode"] == "stack"
    assert chart["title"] == ("1,500 messages reached 300 contacts (5.0 each); busiest week 2026-05-11: "
                              "900 reached, 280 contacts")
    assert "week" in chart["figure"]["layout"]["xaxis"]["title"]["text"]
    assert "per week" in chart["figure"]["layout"]["yaxis"]["title"]["text"]
    assert chart["table"]["columns"][-2:] == ["All channels (reached)", "Contacts reached (distinct)"]
    assert chart["table"]["rows"] == [["2026-05-04", 80, 20, 100, 90], ["2026-05-11", 900, 0, 900, 280]]


def test_weekly_counts_come_first_and_without_them_the_days_are_summed(data):
    delivery = copy.deepcopy(data["delivery"])
    delivery["channels"][0]["by_week"] = [{"week": "2026-05-11", "reached": 7, "unique_contacts": 7}]
    del delivery["by_week"]
    sms, radio = delivery_over_time_chart(delivery)["figure"]["data"]  # no weekly contacts: no line
    assert sms["x"] == ["2026-05-04", "2026-05-11"] and sms["y"] == [0, 7] and radio["y"] == [20, 0]


def test_the_segments_over_time_draw_each_segments_contacts_per_week(data):
    delivery = copy.deepcopy(data["delivery"])
    delivery["segments"].append({"code": "", "name": "No segment (airings, posts)", "total": 20, "reached": 20,
                                 "by_week": [{"week": "2026-05-04", "reached": 20, "unique_contacts": 0}]})
    chart = segment_over_time_chart(delivery)
    police, public = chart["figure"]["data"]  # the airings without a segment are left out
    assert police["name"] == "Police" and police["x"] == ["2026-05-04", "2026-05-11"]
    assert police["y"] == [20, 45] and public["y"] == [0, 240] and police["customdata"] == [30, 350]
    assert {police["marker"]["color"], public["marker"]["color"]} <= set(PALETTE.values())
    assert police["marker"]["symbol"] != public["marker"]["symbol"]  # told apart without colour
    assert chart["title"] == "General public: most contacts reached in a week, 240 in the week of 2026-05-11"
    assert chart["figure"]["layout"]["yaxis"]["title"]["text"] == "contacts reached per week (distinct)"
    assert chart["table"]["rows"] == [["2026-05-04", "Police", 30, 20], ["2026-05-04", "General public", 0, 0],
                                      ["2026-05-11", "Police", 350, 45], ["2026-05-11", "General public", 550, 240]]
    alone = copy.deepcopy(data["delivery"])
    alone["segments"] = alone["segments"][:1]
    assert segment_over_time_chart(alone)["title"] == ("Police: at most 45 contacts reached a week (week of 2026-05-11), "
                                                       "over 2 weeks")


def test_radio_trainings_segments_and_calendar(data):
    radio = radio_chart(data["delivery"])
    assert [t["name"] for t in radio["figure"]["data"]] == ["planned", "aired", "missed", "not confirmed yet"]
    assert radio["figure"]["data"][1]["y"] == [90, 45]
    assert radio["title"] == "135 of 150 planned radio airings aired (90%)"
    training = training_chart(data["delivery"])
    assert training["title"] == "40 of 50 invited attended the 2 training sessions (80%)"
    segments = segment_delivery_chart(data["delivery"])
    assert segments["figure"]["data"][1]["x"] == [50, 250]
    assert segments["title"] == "General public received the most: 1,120 messages to 250 contacts"
    calendar = calendar_chart(data["delivery"])
    (cells,) = calendar["figure"]["data"]
    assert cells["text"] == ["2026-05-04", "2026-05-12"]  # days with nothing reached are left out
    assert cells["y"] == ["Mon", "Tue"] and cells["marker"]["color"] == [100, 900]
    assert calendar["title"] == "Active on 2 days; busiest Tue 12 May 2026 with 900 reached"


def test_every_chart_has_a_title_axis_titles_and_a_table_and_uses_only_bar_and_scatter(data):
    charts = dashboard_charts(data)
    assert set(charts) == {"delivery_over_time", "segment_over_time", "segment_delivery", "radio", "trainings", "calendar", "kap_shift",
                           "kap_breakdown", "item_dumbbell", "forest", "dose", "knowledge_levels"}
    for name, chart in charts.items():
        layout = chart["figure"]["layout"]
        assert layout["title"]["text"], name
        assert layout["xaxis"]["title"]["text"] and layout["yaxis"]["title"]["text"], name
        assert chart["table"]["columns"] and chart["table"]["rows"], name
        assert all(len(r) == len(chart["table"]["columns"]) for r in chart["table"]["rows"]), name
        assert {t["type"] for t in chart["figure"]["data"]} <= {"bar", "scatter"}, name


def test_nothing_to_draw_gives_no_chart():
    assert dashboard_charts({"kap": {"ok": False}, "delivery": {}}) == {}
    assert kap_shift_chart({"domains": [{"code": "knowledge", "ok": False}]}) is None
