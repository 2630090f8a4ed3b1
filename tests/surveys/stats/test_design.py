"""surveys.stats.design against R's survey package.

Expected values come from two sources, named beside each one:

* ``shared/reference/statistics.md`` (R 4.2.2, survey 4.1-1 on ``apiclus1``),
  pinned at the precision printed there;
* ``tests/surveys/stats/R/references.R``, whose printed output
  (``references.Rout``, same R and survey versions) is transcribed into
  ``R_REF`` below with 15 significant digits; each group of values is preceded
  by the R call that produced it. The data files under ``data/`` are written by
  that script (or, for ``apiclus1.csv``, copied from shared/reference/).

R is not needed to run these tests.
"""

from __future__ import annotations

import csv
import doctest
import time
from pathlib import Path

import numpy as np
import pytest

from surveys.stats import design as design_module
from surveys.stats.design import (
    Design,
    SvyChisq,
    SvyGlm,
    SvyMean,
    SvyTTest,
    cell_sums,
    svychisq,
    svycontrast_means,
    svyglm_gaussian,
    svymean,
    svyslope,
    svyttest,
)

DATA = Path(__file__).parent / "data"
REL = 1e-9  # R printed 15 significant digits

# fmt: off
# Source: tests/surveys/stats/R/references.Rout (R 4.2.2, survey 4.1-1), the
# REF lines printed by references.R; the comment above each group is the R call.
R_REF = {
    # references.R line 64: svymean(~api00, dc1, deff = TRUE)
    "clus1.api00.mean": 644.169398907104,
    "clus1.api00.se": 23.542240693781,
    "clus1.api00.deff": 9.34586945059095,
    # references.R line 65: svymean(~api00, dc1_nofpc, deff = TRUE)
    "clus1_nofpc.api00.mean": 644.169398907104,
    "clus1_nofpc.api00.se": 23.7790107208869,
    "clus1_nofpc.api00.deff": 9.534802121425,
    # references.R line 66: svyttest(enroll ~ comp.imp, dc1)
    "clus1.ttest_enroll_compimp.diff": -55.4560902255639,
    "clus1.ttest_enroll_compimp.t": -0.731051146955974,
    "clus1.ttest_enroll_compimp.df": 13,
    "clus1.ttest_enroll_compimp.p": 0.477718390068632,
    "clus1.ttest_enroll_compimp.ci[0]": -219.337372174357,
    "clus1.ttest_enroll_compimp.ci[1]": 108.42519172323,
    # references.R line 67: svychisq(~sch.wide + stype, dc1)
    "clus1.chisq_schwide_stype.F": 5.19336954147488,
    "clus1.chisq_schwide_stype.ndf": 1.49463977770746,
    "clus1.chisq_schwide_stype.ddf": 20.9249568879044,
    "clus1.chisq_schwide_stype.p": 0.0217474623707969,
    # references.R line 68: svychisq(~sch.wide + stype, dc1_nofpc)
    "clus1_nofpc.chisq_schwide_stype.F": 5.09046261528977,
    "clus1_nofpc.chisq_schwide_stype.ndf": 1.49463977770746,
    "clus1_nofpc.chisq_schwide_stype.ddf": 20.9249568879044,
    "clus1_nofpc.chisq_schwide_stype.p": 0.023071616825819,
    # references.R line 70: svymean(~api00, subset(dc1, stype == "E"), deff = TRUE)
    "clus1.api00_E.mean": 648.868055555556,
    "clus1.api00_E.se": 22.3624088938319,
    "clus1.api00_E.deff": 6.5836735250278,
    # references.R line 71: degf(subset(dc1, stype == "E"))
    "clus1.api00_E.degf": 14,
    # references.R line 72: svyglm(api00 ~ api99 + enroll, dc1)
    "clus1.glm_api00_api99_enroll.coef[0]": 105.883814285524,
    "clus1.glm_api00_api99_enroll.coef[1]": 0.899859170929976,
    "clus1.glm_api00_api99_enroll.coef[2]": -0.014387911724288,
    "clus1.glm_api00_api99_enroll.se[0]": 14.4862748958375,
    "clus1.glm_api00_api99_enroll.se[1]": 0.0222849081181442,
    "clus1.glm_api00_api99_enroll.se[2]": 0.0045828591082512,
    "clus1.glm_api00_api99_enroll.t[0]": 7.30925065600883,
    "clus1.glm_api00_api99_enroll.t[1]": 40.3797568363012,
    "clus1.glm_api00_api99_enroll.t[2]": -3.13950557598057,
    "clus1.glm_api00_api99_enroll.p[0]": 9.35809519077301e-06,
    "clus1.glm_api00_api99_enroll.p[1]": 3.44105933988994e-14,
    "clus1.glm_api00_api99_enroll.p[2]": 0.00853975242473443,
    "clus1.glm_api00_api99_enroll.df": 12,
    "clus1.glm_api00_api99_enroll.ci_low[0]": 74.3209326883874,
    "clus1.glm_api00_api99_enroll.ci_low[1]": 0.851304527214208,
    "clus1.glm_api00_api99_enroll.ci_low[2]": -0.024373103945903,
    "clus1.glm_api00_api99_enroll.ci_high[0]": 137.446695882661,
    "clus1.glm_api00_api99_enroll.ci_high[1]": 0.948413814645744,
    "clus1.glm_api00_api99_enroll.ci_high[2]": -0.00440271950267295,
    "clus1.glm_api00_api99_enroll.vcov[0]": 209.852160357771,
    "clus1.glm_api00_api99_enroll.vcov[1]": -0.303176416787524,
    "clus1.glm_api00_api99_enroll.vcov[2]": -0.0283186773264222,
    "clus1.glm_api00_api99_enroll.vcov[3]": -0.303176416787524,
    "clus1.glm_api00_api99_enroll.vcov[4]": 0.000496617129834129,
    "clus1.glm_api00_api99_enroll.vcov[5]": 1.71534357270292e-05,
    "clus1.glm_api00_api99_enroll.vcov[6]": -0.0283186773264222,
    "clus1.glm_api00_api99_enroll.vcov[7]": 1.71534357270292e-05,
    "clus1.glm_api00_api99_enroll.vcov[8]": 2.1002597606081e-05,
    # references.R line 82: degf(ds)
    "strat.degf": 197,
    # references.R line 83: svymean(~api00, ds, deff = TRUE)
    "strat.api00.mean": 662.287363159321,
    "strat.api00.se": 9.40894080278458,
    "strat.api00.deff": 1.20445726853772,
    # references.R line 84: svymean(~api00, ds_nofpc, deff = TRUE)
    "strat_nofpc.api00.mean": 662.287363159321,
    "strat_nofpc.api00.se": 9.53613229692516,
    "strat_nofpc.api00.deff": 1.23724144502163,
    # references.R line 85: svymean(~api00, subset(ds, sch.wide == "Yes"), deff = TRUE)
    "strat.api00_schwideYes.mean": 676.530443656777,
    "strat.api00_schwideYes.se": 10.5203892001006,
    "strat.api00_schwideYes.deff": 1.19815719301614,
    # references.R line 86: degf(subset(ds, sch.wide == "Yes"))
    "strat.api00_schwideYes.degf": 149,
    # references.R line 87: svyttest(api00 ~ comp.imp, ds)
    "strat.ttest_api00_compimp.diff": 40.9899300351764,
    "strat.ttest_api00_compimp.t": 2.08424329551705,
    "strat.ttest_api00_compimp.df": 196,
    "strat.ttest_api00_compimp.p": 0.0384341879512073,
    "strat.ttest_api00_compimp.ci[0]": 2.20466400155799,
    "strat.ttest_api00_compimp.ci[1]": 79.7751960687948,
    # references.R line 88: svyttest(api00 ~ yr.rnd, subset(ds, stype != "E"))
    "strat.ttest_api00_yrrnd_notE.diff": -124.271348795595,
    "strat.ttest_api00_yrrnd_notE.t": -2.80094329522849,
    "strat.ttest_api00_yrrnd_notE.df": 97,
    "strat.ttest_api00_yrrnd_notE.p": 0.00615067545425836,
    "strat.ttest_api00_yrrnd_notE.ci[0]": -212.328907023216,
    "strat.ttest_api00_yrrnd_notE.ci[1]": -36.2137905679736,
    # references.R line 89: svychisq(~awards + yr.rnd, ds)
    "strat.chisq_awards_yrrnd.F": 2.97678183611386,
    "strat.chisq_awards_yrrnd.ndf": 1,
    "strat.chisq_awards_yrrnd.ddf": 197,
    "strat.chisq_awards_yrrnd.p": 0.0860352417414335,
    # references.R line 90: svychisq(~sch.wide + stype, ds)
    "strat.chisq_schwide_stype.F": 17.2474439638888,
    "strat.chisq_schwide_stype.ndf": 1.82867150416358,
    "strat.chisq_schwide_stype.ddf": 360.248286320226,
    "strat.chisq_schwide_stype.p": 2.03504635946512e-07,
    # references.R line 91: svyglm(api00 ~ ell + meals, ds)
    "strat.glm_api00_ell_meals.coef[0]": 823.857925625165,
    "strat.glm_api00_ell_meals.coef[1]": -0.505725551902663,
    "strat.glm_api00_ell_meals.coef[2]": -3.11062899440932,
    "strat.glm_api00_ell_meals.se[0]": 8.75949494697781,
    "strat.glm_api00_ell_meals.se[1]": 0.387916516282649,
    "strat.glm_api00_ell_meals.se[2]": 0.275765488815877,
    "strat.glm_api00_ell_meals.t[0]": 94.0531309866685,
    "strat.glm_api00_ell_meals.t[1]": -1.30369687980538,
    "strat.glm_api00_ell_meals.t[2]": -11.2799792597914,
    "strat.glm_api00_ell_meals.p[0]": 2.03404739028711e-164,
    "strat.glm_api00_ell_meals.p[1]": 0.193873946007251,
    "strat.glm_api00_ell_meals.p[2]": 4.85266245167243e-23,
    "strat.glm_api00_ell_meals.df": 195,
    "strat.glm_api00_ell_meals.ci_low[0]": 806.58241420367,
    "strat.glm_api00_ell_meals.ci_low[1]": -1.27077607686924,
    "strat.glm_api00_ell_meals.ci_low[2]": -3.65449480865201,
    "strat.glm_api00_ell_meals.ci_high[0]": 841.13343704666,
    "strat.glm_api00_ell_meals.ci_high[1]": 0.259324973063918,
    "strat.glm_api00_ell_meals.ci_high[2]": -2.56676318016662,
    "strat.glm_api00_ell_meals.vcov[0]": 76.7287517261298,
    "strat.glm_api00_ell_meals.vcov[1]": 0.811096484440444,
    "strat.glm_api00_ell_meals.vcov[2]": -1.68829465088597,
    "strat.glm_api00_ell_meals.vcov[3]": 0.811096484440444,
    "strat.glm_api00_ell_meals.vcov[4]": 0.150479223604867,
    "strat.glm_api00_ell_meals.vcov[5]": -0.0848388457661921,
    "strat.glm_api00_ell_meals.vcov[6]": -1.68829465088597,
    "strat.glm_api00_ell_meals.vcov[7]": -0.0848388457661921,
    "strat.glm_api00_ell_meals.vcov[8]": 0.0760466048218595,
    # references.R line 103: svymean(~enroll, d2, na.rm = TRUE, deff = TRUE)
    "clus2.enroll_narm.mean": 526.262641509434,
    "clus2.enroll_narm.se": 82.0045351802674,
    "clus2.enroll_narm.deff": 6.39971313750908,
    # references.R line 104: svymean(~api00, d2, deff = TRUE)
    "clus2.api00.mean": 670.811808118081,
    "clus2.api00.se": 30.7115763093288,
    "clus2.api00.deff": 6.5075124361641,
    # references.R line 105: svymean(~api00, d2_fpc1, deff = TRUE)
    "clus2_fpc1.api00.mean": 670.811808118081,
    "clus2_fpc1.api00.se": 29.8891624724711,
    "clus2_fpc1.api00.deff": 6.16365444746322,
    # references.R line 106: svyttest(enroll ~ comp.imp, d2)
    "clus2.ttest_enroll_compimp.diff": -225.73705856081,
    "clus2.ttest_enroll_compimp.t": -3.04116258724632,
    "clus2.ttest_enroll_compimp.df": 36,
    "clus2.ttest_enroll_compimp.p": 0.00437744966687134,
    "clus2.ttest_enroll_compimp.ci[0]": -376.276847582972,
    "clus2.ttest_enroll_compimp.ci[1]": -75.1972695386489,
    # references.R line 107: svychisq(~sch.wide + stype, d2)
    "clus2.chisq_schwide_stype.F": 11.484567897027,
    "clus2.chisq_schwide_stype.ndf": 1.37531219477626,
    "clus2.chisq_schwide_stype.ddf": 53.6371755962743,
    "clus2.chisq_schwide_stype.p": 0.00040932862358406,
    # references.R line 150: degf(dk)
    "kap.degf": 40,
    # references.R line 152: svymean(~attitude, dk, deff = TRUE)
    "kap.attitude.mean": 3.10029287375868,
    "kap.attitude.se": 0.073071551784331,
    "kap.attitude.deff": 4.17980000110389,
    # references.R line 153: svymean(~attitude, dk0, deff = TRUE)
    "kap_nofpc.attitude.mean": 3.10029287375868,
    "kap_nofpc.attitude.se": 0.0781420662697476,
    "kap_nofpc.attitude.deff": 4.7800079926575,
    # references.R line 154: svymean(~knows, dk, deff = TRUE)
    "kap.knows.mean": 0.540836406380324,
    "kap.knows.se": 0.0349264207580636,
    "kap.knows.deff": 3.4030373158251,
    # references.R line 156: svymean(~knows, subset(dk, wave == "endline" & segment == "F18-24"), deff = TRUE)
    "kap.knows_endline_F1824.mean": 0.70179327677208,
    "kap.knows_endline_F1824.se": 0.066866824548688,
    "kap.knows_endline_F1824.deff": 1.4634561208805,
    # references.R line 157: degf(subset(dk, wave == "endline" & segment == "F18-24"))
    "kap.knows_endline_F1824.degf": 20,
    # references.R line 158: confint(m, df = degf(subset(dk, wave == "endline" & segment == "F18-24")))
    "kap.knows_endline_F1824.ci_t[0]": 0.562311524928778,
    "kap.knows_endline_F1824.ci_t[1]": 0.841275028615383,
    # references.R line 159: confint(m)
    "kap.knows_endline_F1824.ci_normal[0]": 0.570736708896093,
    "kap.knows_endline_F1824.ci_normal[1]": 0.832849844648068,
    # references.R line 161: svymean(~attitude, subset(dk, region == "east" & wave == "baseline" & arm == "treatment"), deff = TRUE)
    "kap.attitude_east_baseline_treat.mean": 3.11195822072728,
    "kap.attitude_east_baseline_treat.se": 0.171090488868891,
    "kap.attitude_east_baseline_treat.deff": 1.80394817226751,
    # references.R line 162: degf(subset(dk, region == "east" & wave == "baseline" & arm == "treatment"))
    "kap.attitude_east_baseline_treat.degf": 2,
    # references.R line 164: svymean(~trust, dk, na.rm = TRUE, deff = TRUE)
    "kap.trust_narm.mean": 0.565856434764096,
    "kap.trust_narm.se": 0.0196036511515072,
    "kap.trust_narm.deff": 0.98118954317121,
    # references.R line 165: svymean(~trust, subset(dk, arm == "treatment"), na.rm = TRUE, deff = TRUE)
    "kap.trust_narm_treatment.mean": 0.563155198399899,
    "kap.trust_narm_treatment.se": 0.0302100745629788,
    "kap.trust_narm_treatment.deff": 1.16717306981669,
    # references.R line 167: svyttest(knows ~ wave, dk0)
    "kap_nofpc.ttest_knows_wave.diff": 0.222749775849648,
    "kap_nofpc.ttest_knows_wave.t": 3.09008356126153,
    "kap_nofpc.ttest_knows_wave.df": 39,
    "kap_nofpc.ttest_knows_wave.p": 0.00368195816520126,
    "kap_nofpc.ttest_knows_wave.ci[0]": 0.0769433793173264,
    "kap_nofpc.ttest_knows_wave.ci[1]": 0.368556172381969,
    # references.R line 168: svyttest(attitude ~ arm, subset(dk, wave == "endline"))
    "kap.ttest_attitude_arm_endline.diff": 0.238600251154987,
    "kap.ttest_attitude_arm_endline.t": 1.31571652453332,
    "kap.ttest_attitude_arm_endline.df": 19,
    "kap.ttest_attitude_arm_endline.p": 0.203924892399126,
    "kap.ttest_attitude_arm_endline.ci[0]": -0.1409618017214,
    "kap.ttest_attitude_arm_endline.ci[1]": 0.618162304031374,
    # references.R line 169: svyttest(trust ~ wave, dk)
    "kap.ttest_trust_wave.diff": -0.00173770578113369,
    "kap.ttest_trust_wave.t": -0.0443362160519309,
    "kap.ttest_trust_wave.df": 39,
    "kap.ttest_trust_wave.p": 0.964862638761955,
    "kap.ttest_trust_wave.ci[0]": -0.081014694621985,
    "kap.ttest_trust_wave.ci[1]": 0.0775392830597176,
    # references.R line 170: svyttest(knows ~ wave, subset(dk, segment == "M25+"))
    "kap.ttest_knows_wave_M25.diff": 0.13877596187102,
    "kap.ttest_knows_wave_M25.t": 1.59957856648788,
    "kap.ttest_knows_wave_M25.df": 39,
    "kap.ttest_knows_wave_M25.p": 0.117763129943372,
    "kap.ttest_knows_wave_M25.ci[0]": -0.0367083087217032,
    "kap.ttest_knows_wave_M25.ci[1]": 0.314260232463743,
    # references.R line 172: svychisq(~knows + wave, dk)
    "kap.chisq_knows_wave.F": 10.2335983732484,
    "kap.chisq_knows_wave.ndf": 1,
    "kap.chisq_knows_wave.ddf": 40,
    "kap.chisq_knows_wave.p": 0.00269807719717675,
    # references.R line 173: svychisq(~knows + wave, dk0)
    "kap_nofpc.chisq_knows_wave.F": 8.92613831453359,
    "kap_nofpc.chisq_knows_wave.ndf": 1,
    "kap_nofpc.chisq_knows_wave.ddf": 40,
    "kap_nofpc.chisq_knows_wave.p": 0.00478514038362051,
    # references.R line 174: svychisq(~practice + wave, dk)
    "kap.chisq_practice_wave.F": 5.23908477158619,
    "kap.chisq_practice_wave.ndf": 1.48711680153208,
    "kap.chisq_practice_wave.ddf": 59.4846720612833,
    "kap.chisq_practice_wave.p": 0.014360333616397,
    # references.R line 175: svychisq(~practice + arm, subset(dk0, wave == "endline"))
    "kap_nofpc.chisq_practice_arm_endline.F": 1.14225894370785,
    "kap_nofpc.chisq_practice_arm_endline.ndf": 1.86459857789694,
    "kap_nofpc.chisq_practice_arm_endline.ddf": 37.2919715579388,
    "kap_nofpc.chisq_practice_arm_endline.p": 0.32690577601976,
    # references.R line 176: svychisq(~knows + wave, subset(dk, segment == "F25+"))
    "kap.chisq_knows_wave_F25.F": 4.95962441910724,
    "kap.chisq_knows_wave_F25.ndf": 1,
    "kap.chisq_knows_wave_F25.ddf": 40,
    "kap.chisq_knows_wave_F25.p": 0.0316397323421635,
    # references.R line 177: svychisq(~trust + wave, dk)
    "kap.chisq_trust_wave.F": 0.00196565158050035,
    "kap.chisq_trust_wave.ndf": 1,
    "kap.chisq_trust_wave.ddf": 40,
    "kap.chisq_trust_wave.p": 0.964857434769897,
    # references.R line 182: svyglm(attitude ~ wave * arm, dk)
    "kap.glm_attitude_wave_x_arm.coef[0]": 2.87899568815149,
    "kap.glm_attitude_wave_x_arm.coef[1]": 0.359397736365592,
    "kap.glm_attitude_wave_x_arm.coef[2]": -0.152832631710894,
    "kap.glm_attitude_wave_x_arm.coef[3]": 0.391432882865882,
    "kap.glm_attitude_wave_x_arm.se[0]": 0.185251391905946,
    "kap.glm_attitude_wave_x_arm.se[1]": 0.230095584207585,
    "kap.glm_attitude_wave_x_arm.se[2]": 0.193580918027064,
    "kap.glm_attitude_wave_x_arm.se[3]": 0.265254655727342,
    "kap.glm_attitude_wave_x_arm.t[0]": 15.5410205479762,
    "kap.glm_attitude_wave_x_arm.t[1]": 1.56194973320894,
    "kap.glm_attitude_wave_x_arm.t[2]": -0.789502567032598,
    "kap.glm_attitude_wave_x_arm.t[3]": 1.47568713466141,
    "kap.glm_attitude_wave_x_arm.p[0]": 8.43255016725995e-18,
    "kap.glm_attitude_wave_x_arm.p[1]": 0.12681352216849,
    "kap.glm_attitude_wave_x_arm.p[2]": 0.434848788804456,
    "kap.glm_attitude_wave_x_arm.p[3]": 0.148487994274022,
    "kap.glm_attitude_wave_x_arm.df": 37,
    "kap.glm_attitude_wave_x_arm.ci_low[0]": 2.50364071410601,
    "kap.glm_attitude_wave_x_arm.ci_low[1]": -0.106820202132096,
    "kap.glm_attitude_wave_x_arm.ci_low[2]": -0.545064828803587,
    "kap.glm_attitude_wave_x_arm.ci_low[3]": -0.146024101352241,
    "kap.glm_attitude_wave_x_arm.ci_high[0]": 3.25435066219697,
    "kap.glm_attitude_wave_x_arm.ci_high[1]": 0.82561567486328,
    "kap.glm_attitude_wave_x_arm.ci_high[2]": 0.239399565381799,
    "kap.glm_attitude_wave_x_arm.ci_high[3]": 0.928889867084004,
    "kap.glm_attitude_wave_x_arm.vcov[0]": 0.0343180782030903,
    "kap.glm_attitude_wave_x_arm.vcov[1]": -0.0343180782030903,
    "kap.glm_attitude_wave_x_arm.vcov[2]": -0.0330216330560971,
    "kap.glm_attitude_wave_x_arm.vcov[3]": 0.0330216330560971,
    "kap.glm_attitude_wave_x_arm.vcov[4]": -0.0343180782030903,
    "kap.glm_attitude_wave_x_arm.vcov[5]": 0.0529439778718297,
    "kap.glm_attitude_wave_x_arm.vcov[6]": 0.0330216330560971,
    "kap.glm_attitude_wave_x_arm.vcov[7]": -0.05123763459403,
    "kap.glm_attitude_wave_x_arm.vcov[8]": -0.0330216330560971,
    "kap.glm_attitude_wave_x_arm.vcov[9]": 0.0330216330560971,
    "kap.glm_attitude_wave_x_arm.vcov[10]": 0.037473571824201,
    "kap.glm_attitude_wave_x_arm.vcov[11]": -0.037473571824201,
    "kap.glm_attitude_wave_x_arm.vcov[12]": 0.0330216330560971,
    "kap.glm_attitude_wave_x_arm.vcov[13]": -0.05123763459403,
    "kap.glm_attitude_wave_x_arm.vcov[14]": -0.037473571824201,
    "kap.glm_attitude_wave_x_arm.vcov[15]": 0.0703600323850309,
    # references.R line 183: svyglm(knows ~ endline * treatment, dk)
    "kap.glm_knows_did.coef[0]": 0.401228443736998,
    "kap.glm_knows_did.coef[1]": 0.0977644392093619,
    "kap.glm_knows_did.coef[2]": 0.0535064597670188,
    "kap.glm_knows_did.coef[3]": 0.216858697672649,
    "kap.glm_knows_did.se[0]": 0.0612442778949486,
    "kap.glm_knows_did.se[1]": 0.0890244165718422,
    "kap.glm_knows_did.se[2]": 0.0659773388351365,
    "kap.glm_knows_did.se[3]": 0.110657121855182,
    "kap.glm_knows_did.t[0]": 6.5512805037104,
    "kap.glm_knows_did.t[1]": 1.09817556771593,
    "kap.glm_knows_did.t[2]": 0.810982387463675,
    "kap.glm_knows_did.t[3]": 1.95973556908929,
    "kap.glm_knows_did.p[0]": 1.1309395859411e-07,
    "kap.glm_knows_did.p[1]": 0.27922301678223,
    "kap.glm_knows_did.p[2]": 0.42256198387245,
    "kap.glm_knows_did.p[3]": 0.0575919777572539,
    "kap.glm_knows_did.df": 37,
    "kap.glm_knows_did.ci_low[0]": 0.277135749462593,
    "kap.glm_knows_did.ci_low[1]": -0.0826161626740685,
    "kap.glm_knows_did.ci_low[2]": -0.0801763269114524,
    "kap.glm_knows_did.ci_low[3]": -0.00735392861081557,
    "kap.glm_knows_did.ci_high[0]": 0.525321138011403,
    "kap.glm_knows_did.ci_high[1]": 0.278145041092792,
    "kap.glm_knows_did.ci_high[2]": 0.18718924644549,
    "kap.glm_knows_did.ci_high[3]": 0.441071323956113,
    "kap.glm_knows_did.vcov[0]": 0.00375086157487368,
    "kap.glm_knows_did.vcov[1]": -0.00375086157487368,
    "kap.glm_knows_did.vcov[2]": -0.00321580246240318,
    "kap.glm_knows_did.vcov[3]": 0.00321580246240318,
    "kap.glm_knows_did.vcov[4]": -0.00375086157487368,
    "kap.glm_knows_did.vcov[5]": 0.0079253467459569,
    "kap.glm_knows_did.vcov[6]": 0.00321580246240318,
    "kap.glm_knows_did.vcov[7]": -0.00757786173176111,
    "kap.glm_knows_did.vcov[8]": -0.00321580246240318,
    "kap.glm_knows_did.vcov[9]": 0.00321580246240318,
    "kap.glm_knows_did.vcov[10]": 0.00435300923976641,
    "kap.glm_knows_did.vcov[11]": -0.00435300923976641,
    "kap.glm_knows_did.vcov[12]": 0.00321580246240318,
    "kap.glm_knows_did.vcov[13]": -0.00757786173176111,
    "kap.glm_knows_did.vcov[14]": -0.00435300923976641,
    "kap.glm_knows_did.vcov[15]": 0.0122449986172727,
    # references.R line 184: svyglm(knows ~ exposure, subset(dk, wave == "endline"))
    "kap.glm_knows_exposure_endline.coef[0]": 0.527355835637914,
    "kap.glm_knows_exposure_endline.coef[1]": 0.0624520940516241,
    "kap.glm_knows_exposure_endline.se[0]": 0.0635590145619515,
    "kap.glm_knows_exposure_endline.se[1]": 0.02366806771064,
    "kap.glm_knows_exposure_endline.t[0]": 8.29710528510313,
    "kap.glm_knows_exposure_endline.t[1]": 2.63866466900248,
    "kap.glm_knows_exposure_endline.p[0]": 9.70997135937475e-08,
    "kap.glm_knows_exposure_endline.p[1]": 0.0161896823514731,
    "kap.glm_knows_exposure_endline.df": 19,
    "kap.glm_knows_exposure_endline.ci_low[0]": 0.394325289285262,
    "kap.glm_knows_exposure_endline.ci_low[1]": 0.01291425901189,
    "kap.glm_knows_exposure_endline.ci_high[0]": 0.660386381990567,
    "kap.glm_knows_exposure_endline.ci_high[1]": 0.111989929091358,
    "kap.glm_knows_exposure_endline.vcov[0]": 0.00403974833208636,
    "kap.glm_knows_exposure_endline.vcov[1]": -0.00103849632563058,
    "kap.glm_knows_exposure_endline.vcov[2]": -0.00103849632563058,
    "kap.glm_knows_exposure_endline.vcov[3]": 0.000560177429155441,
    # references.R line 185: svyglm(trust ~ exposure + endline, dk)
    "kap.glm_trust_exposure_narm.coef[0]": 0.572179158279854,
    "kap.glm_trust_exposure_narm.coef[1]": -0.0206875964081908,
    "kap.glm_trust_exposure_narm.coef[2]": 0.0331822364513079,
    "kap.glm_trust_exposure_narm.se[0]": 0.0286674631109736,
    "kap.glm_trust_exposure_narm.se[1]": 0.0194347076774898,
    "kap.glm_trust_exposure_narm.se[2]": 0.0435220923142102,
    "kap.glm_trust_exposure_narm.t[0]": 19.9591835547119,
    "kap.glm_trust_exposure_narm.t[1]": -1.06446655908039,
    "kap.glm_trust_exposure_narm.t[2]": 0.76242282222433,
    "kap.glm_trust_exposure_narm.p[0]": 9.69638657664363e-22,
    "kap.glm_trust_exposure_narm.p[1]": 0.293834837290961,
    "kap.glm_trust_exposure_narm.p[2]": 0.450514563854641,
    "kap.glm_trust_exposure_narm.df": 38,
    "kap.glm_trust_exposure_narm.ci_low[0]": 0.514144913263838,
    "kap.glm_trust_exposure_narm.ci_low[1]": -0.0600311052078362,
    "kap.glm_trust_exposure_narm.ci_low[2]": -0.0549236332308172,
    "kap.glm_trust_exposure_narm.ci_high[0]": 0.630213403295871,
    "kap.glm_trust_exposure_narm.ci_high[1]": 0.0186559123914547,
    "kap.glm_trust_exposure_narm.ci_high[2]": 0.121288106133433,
    "kap.glm_trust_exposure_narm.vcov[0]": 0.000821823441219031,
    "kap.glm_trust_exposure_narm.vcov[1]": -0.000111730173829911,
    "kap.glm_trust_exposure_narm.vcov[2]": -0.000649502352228773,
    "kap.glm_trust_exposure_narm.vcov[3]": -0.000111730173829911,
    "kap.glm_trust_exposure_narm.vcov[4]": 0.00037770786250948,
    "kap.glm_trust_exposure_narm.vcov[5]": -0.000451210905013652,
    "kap.glm_trust_exposure_narm.vcov[6]": -0.000649502352228773,
    "kap.glm_trust_exposure_narm.vcov[7]": -0.000451210905013652,
    "kap.glm_trust_exposure_narm.vcov[8]": 0.00189417251940663,
    # references.R line 188: svymean(~attitude, dkf)
    "kap_fraction.attitude.mean": 3.10029287375868,
    "kap_fraction.attitude.se": 0.073071551784331,
    # references.R line 193: svymean(~attitude, subset(dl, region != "west" | wave != "endline"))
    "kap_lonely.attitude_without_lonely_stratum.mean": 3.03797429906287,
    "kap_lonely.attitude_without_lonely_stratum.se": 0.0890651780289502,
}
# fmt: on


def load(name: str) -> dict[str, np.ndarray]:
    """A CSV written by R: numeric columns as float (NA -> NaN), others str."""
    with open(DATA / name, newline="") as fh:
        rows = list(csv.DictReader(fh))
    out = {}
    for col in rows[0]:
        raw = [r[col] for r in rows]
        try:
            out[col] = np.array([np.nan if v == "NA" else float(v) for v in raw])
        except ValueError:
            out[col] = np.array(raw)
    return out


def ref(name: str) -> float:
    return R_REF[name]


def refs(name: str, k: int) -> np.ndarray:
    return np.array([R_REF[f"{name}[{i}]"] for i in range(k)])


def assert_same(a, b, rel: float = 1e-10) -> None:
    """Two results agree field by field (floats up to rounding)."""
    assert type(a) is type(b)
    for name in a.__slots__:
        x, y = getattr(a, name), getattr(b, name)
        if isinstance(x, float):
            assert x == pytest.approx(y, rel=rel, abs=1e-12), name
        elif isinstance(x, np.ndarray):
            np.testing.assert_allclose(x, y, rtol=rel, err_msg=name)
        else:
            assert x == y, name


def check_mean(prefix: str, r: SvyMean, deff: bool = True) -> None:
    assert r.ok, r.reason
    assert r.estimate == pytest.approx(ref(f"{prefix}.mean"), rel=REL)
    assert r.se == pytest.approx(ref(f"{prefix}.se"), rel=REL)
    if deff:
        assert r.deff == pytest.approx(ref(f"{prefix}.deff"), rel=REL)


def check_ttest(prefix: str, r: SvyTTest) -> None:
    assert r.ok, r.reason
    assert r.estimate == pytest.approx(ref(f"{prefix}.diff"), rel=REL)
    assert r.t == pytest.approx(ref(f"{prefix}.t"), rel=REL)
    assert r.df == ref(f"{prefix}.df")
    assert r.p == pytest.approx(ref(f"{prefix}.p"), rel=REL)
    assert (r.ci_low, r.ci_high) == pytest.approx(tuple(refs(f"{prefix}.ci", 2)), rel=REL)


def check_chisq(prefix: str, r: SvyChisq) -> None:
    assert r.ok, r.reason
    assert r.f == pytest.approx(ref(f"{prefix}.F"), rel=REL)
    assert r.ndf == pytest.approx(ref(f"{prefix}.ndf"), rel=REL)
    assert r.ddf == pytest.approx(ref(f"{prefix}.ddf"), rel=REL)
    assert r.p == pytest.approx(ref(f"{prefix}.p"), rel=REL)


def check_glm(prefix: str, m: SvyGlm) -> None:
    assert m.ok, m.reason
    k = len(m.names)
    assert m.df == ref(f"{prefix}.df")
    for field in ("coef", "se", "t", "p", "ci_low", "ci_high"):
        np.testing.assert_allclose(getattr(m, field), refs(f"{prefix}.{field}", k), rtol=1e-8)
    np.testing.assert_allclose(m.vcov.ravel(), refs(f"{prefix}.vcov", k * k), rtol=1e-8)


# ---------------------------------------------------------------------------
# data and designs
# ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def clus1():
    return load("apiclus1.csv")


@pytest.fixture(scope="module")
def strat():
    return load("apistrat.csv")


@pytest.fixture(scope="module")
def clus2():
    return load("apiclus2.csv")


@pytest.fixture(scope="module")
def kap():
    return load("kap_synthetic.csv")


def clus1_design(d, fpc=True):
    # R: svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
    return Design(weights=d["pw"], clusters=d["dnum"], fpc=d["fpc"] if fpc else None)


def strat_design(d, fpc=True):
    # R: svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
    return Design(weights=d["pw"], strata=d["stype"], fpc=d["fpc"] if fpc else None)


def kap_design(d, fpc=True):
    # R: svydesign(id = ~village, strata = ~stratum, weights = ~wt, fpc = ~fpc, nest = TRUE)
    return Design(weights=d["wt"], clusters=d["village"], strata=d["stratum"],
                  fpc=d["fpc"] if fpc else None)


# ---------------------------------------------------------------------------
# shared/reference/statistics.md, "Complex samples (clusters, weights): R survey"
# ---------------------------------------------------------------------------


def test_statistics_md_svymean_api00_with_fpc(clus1):
    # statistics.md: svydesign(id=~dnum, weights=~pw, fpc=~fpc), svymean(~api00, deff=TRUE):
    # mean 644.169, SE 23.542, design effect 9.3459
    r = svymean(clus1["api00"], clus1_design(clus1))
    assert r.estimate == pytest.approx(644.169, abs=5e-4)
    assert r.se == pytest.approx(23.542, abs=5e-4)
    assert r.deff == pytest.approx(9.3459, abs=5e-5)


def test_statistics_md_svymean_api00_without_fpc(clus1):
    # statistics.md: svydesign(id=~dnum, weights=~pw) (no fpc), svymean(~api00, deff=TRUE):
    # mean 644.169, SE 23.779, design effect 9.5348
    r = svymean(clus1["api00"], clus1_design(clus1, fpc=False))
    assert r.estimate == pytest.approx(644.169, abs=5e-4)
    assert r.se == pytest.approx(23.779, abs=5e-4)
    assert r.deff == pytest.approx(9.5348, abs=5e-5)


def test_statistics_md_svyttest_enroll_by_comp_imp(clus1):
    # statistics.md: svyttest(enroll ~ comp.imp): t = -0.73105, df = 13, p = 0.4777,
    # difference -55.45609, 95% CI (-219.3374, 108.4252)
    r = svyttest(clus1["enroll"], clus1["comp.imp"], clus1_design(clus1))
    assert r.levels == ("No", "Yes")
    assert r.t == pytest.approx(-0.73105, abs=5e-6)
    assert r.df == 13
    assert r.p == pytest.approx(0.4777, abs=5e-5)
    assert r.estimate == pytest.approx(-55.45609, abs=5e-6)
    assert r.ci_low == pytest.approx(-219.3374, abs=5e-5)
    assert r.ci_high == pytest.approx(108.4252, abs=5e-5)


def test_statistics_md_svychisq_with_fpc(clus1):
    # statistics.md: svychisq(~sch.wide + stype): Rao-Scott F = 5.1934, ndf = 1.4946,
    # ddf = 20.925, p = 0.02175
    r = svychisq(clus1["sch.wide"], clus1["stype"], clus1_design(clus1))
    assert r.f == pytest.approx(5.1934, abs=5e-5)
    assert r.ndf == pytest.approx(1.4946, abs=5e-5)
    assert r.ddf == pytest.approx(20.925, abs=5e-4)
    assert r.p == pytest.approx(0.02175, abs=5e-6)


def test_statistics_md_svychisq_without_fpc(clus1):
    # statistics.md: no fpc, svychisq(~sch.wide + stype): F = 5.0905, ndf = 1.4946,
    # ddf = 20.925, p = 0.02307
    r = svychisq(clus1["sch.wide"], clus1["stype"], clus1_design(clus1, fpc=False))
    assert r.f == pytest.approx(5.0905, abs=5e-5)
    assert r.ndf == pytest.approx(1.4946, abs=5e-5)
    assert r.ddf == pytest.approx(20.925, abs=5e-4)
    assert r.p == pytest.approx(0.02307, abs=5e-6)


# ---------------------------------------------------------------------------
# references.R: apiclus1 (one-stage cluster sample)
# ---------------------------------------------------------------------------


def test_clus1_full_precision(clus1):
    d, d0 = clus1_design(clus1), clus1_design(clus1, fpc=False)
    check_mean("clus1.api00", svymean(clus1["api00"], d))
    check_mean("clus1_nofpc.api00", svymean(clus1["api00"], d0))
    check_ttest("clus1.ttest_enroll_compimp", svyttest(clus1["enroll"], clus1["comp.imp"], d))
    check_chisq("clus1.chisq_schwide_stype", svychisq(clus1["sch.wide"], clus1["stype"], d))
    check_chisq("clus1_nofpc.chisq_schwide_stype",
                svychisq(clus1["sch.wide"], clus1["stype"], d0))


def test_clus1_domain_mean(clus1):
    d = clus1_design(clus1)
    r = svymean(clus1["api00"], d, domain=clus1["stype"] == "E")
    check_mean("clus1.api00_E", r)
    assert r.df == ref("clus1.api00_E.degf")
    assert d.degf(clus1["stype"] == "E") == ref("clus1.api00_E.degf")


def test_clus1_glm(clus1):
    m = svyglm_gaussian(clus1["api00"], np.column_stack([clus1["api99"], clus1["enroll"]]),
                        clus1_design(clus1), names=["api99", "enroll"])
    assert m.names == ("(Intercept)", "api99", "enroll")
    check_glm("clus1.glm_api00_api99_enroll", m)


# ---------------------------------------------------------------------------
# references.R: apistrat (stratified, no clusters)
# ---------------------------------------------------------------------------


def test_strat_design_df(strat):
    d = strat_design(strat)
    assert (d.n, d.n_psu, d.n_strata) == (200, 200, 3)
    assert d.df == ref("strat.degf")


def test_strat_means(strat):
    d = strat_design(strat)
    check_mean("strat.api00", svymean(strat["api00"], d))
    check_mean("strat_nofpc.api00", svymean(strat["api00"], strat_design(strat, fpc=False)))
    r = svymean(strat["api00"], d, domain=strat["sch.wide"] == "Yes")
    check_mean("strat.api00_schwideYes", r)
    assert r.df == ref("strat.api00_schwideYes.degf")


def test_strat_ttests(strat):
    d = strat_design(strat)
    check_ttest("strat.ttest_api00_compimp", svyttest(strat["api00"], strat["comp.imp"], d))
    check_ttest("strat.ttest_api00_yrrnd_notE",
                svyttest(strat["api00"], strat["yr.rnd"], d, domain=strat["stype"] != "E"))


def test_strat_chisq(strat):
    d = strat_design(strat)
    check_chisq("strat.chisq_awards_yrrnd", svychisq(strat["awards"], strat["yr.rnd"], d))
    check_chisq("strat.chisq_schwide_stype", svychisq(strat["sch.wide"], strat["stype"], d))


def test_strat_glm(strat):
    m = svyglm_gaussian(strat["api00"], np.column_stack([strat["ell"], strat["meals"]]),
                        strat_design(strat), names=["ell", "meals"])
    check_glm("strat.glm_api00_ell_meals", m)


# ---------------------------------------------------------------------------
# references.R: apiclus2 (two-stage sample; first-stage variance)
# ---------------------------------------------------------------------------


def test_clus2(clus2):
    # R: svydesign(id = ~dnum + snum, weights = ~pw): no fpc, so R's variance is
    # the first stage's, as Design(clusters=dnum)
    d = Design(weights=clus2["pw"], clusters=clus2["dnum"])
    assert np.isnan(clus2["enroll"]).sum() == 6
    check_mean("clus2.enroll_narm", svymean(clus2["enroll"], d, na_rm=True))
    check_mean("clus2.api00", svymean(clus2["api00"], d))
    check_ttest("clus2.ttest_enroll_compimp",
                svyttest(clus2["enroll"], clus2["comp.imp"], d, na_rm=True))
    check_chisq("clus2.chisq_schwide_stype", svychisq(clus2["sch.wide"], clus2["stype"], d))
    # R: svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc1)
    d1 = Design(weights=clus2["pw"], clusters=clus2["dnum"], fpc=clus2["fpc1"])
    check_mean("clus2_fpc1.api00", svymean(clus2["api00"], d1))


def test_missing_values_need_na_rm(clus2):
    d = Design(weights=clus2["pw"], clusters=clus2["dnum"])
    with pytest.raises(ValueError, match="na_rm"):
        svymean(clus2["enroll"], d)
    with pytest.raises(ValueError, match="na_rm"):
        svyttest(clus2["enroll"], clus2["comp.imp"], d)
    with pytest.raises(ValueError, match="na_rm"):
        svyglm_gaussian(clus2["enroll"], clus2["api00"], d)


# ---------------------------------------------------------------------------
# references.R: synthetic KAP survey (8 strata = region x wave, nested villages)
# ---------------------------------------------------------------------------


def test_kap_design_nests_villages_in_strata(kap):
    d = kap_design(kap)
    # villages are numbered 1..6 inside every stratum: 48 PSUs, not 6
    assert (d.n_psu, d.n_strata) == (48, 8)
    assert d.df == ref("kap.degf")


def test_kap_means(kap):
    d = kap_design(kap)
    check_mean("kap.attitude", svymean(kap["attitude"], d))
    check_mean("kap_nofpc.attitude", svymean(kap["attitude"], kap_design(kap, fpc=False)))
    check_mean("kap.knows", svymean(kap["knows"], d))


def test_kap_fpc_as_sampling_fraction(kap):
    # R: fpc = ~I(6 / fpc): the same design as population counts
    d = Design(weights=kap["wt"], clusters=kap["village"], strata=kap["stratum"],
               fpc=6 / kap["fpc"])
    check_mean("kap_fraction.attitude", svymean(kap["attitude"], d), deff=False)


def test_kap_domain_mean_and_intervals(kap):
    d = kap_design(kap)
    dom = (kap["wave"] == "endline") & (kap["segment"] == "F18-24")
    r = svymean(kap["knows"], d, domain=dom)
    check_mean("kap.knows_endline_F1824", r)
    assert r.df == ref("kap.knows_endline_F1824.degf")
    # R confint(m) is normal; confint(m, df = degf(subset(...))) is t
    assert (r.ci_low, r.ci_high) == pytest.approx(
        tuple(refs("kap.knows_endline_F1824.ci_normal", 2)), rel=REL)
    rt = svymean(kap["knows"], d, domain=dom, ci="t")
    assert (rt.ci_low, rt.ci_high) == pytest.approx(
        tuple(refs("kap.knows_endline_F1824.ci_t", 2)), rel=REL)


def test_kap_domain_in_one_stratum(kap):
    d = kap_design(kap)
    dom = (kap["region"] == "east") & (kap["wave"] == "baseline") & (kap["arm"] == "treatment")
    r = svymean(kap["attitude"], d, domain=dom)
    check_mean("kap.attitude_east_baseline_treat", r)
    assert r.df == ref("kap.attitude_east_baseline_treat.degf")


def test_kap_missing_values(kap):
    d = kap_design(kap)
    check_mean("kap.trust_narm", svymean(kap["trust"], d, na_rm=True))
    check_mean("kap.trust_narm_treatment",
               svymean(kap["trust"], d, domain=kap["arm"] == "treatment", na_rm=True))


def test_kap_ttests(kap):
    d, d0 = kap_design(kap), kap_design(kap, fpc=False)
    r = svyttest(kap["knows"], kap["wave"], d0)
    assert r.levels == ("baseline", "endline")
    check_ttest("kap_nofpc.ttest_knows_wave", r)
    check_ttest("kap.ttest_attitude_arm_endline",
                svyttest(kap["attitude"], kap["arm"], d, domain=kap["wave"] == "endline"))
    check_ttest("kap.ttest_trust_wave", svyttest(kap["trust"], kap["wave"], d, na_rm=True))
    check_ttest("kap.ttest_knows_wave_M25",
                svyttest(kap["knows"], kap["wave"], d, domain=kap["segment"] == "M25+"))


def test_kap_chisq(kap):
    d, d0 = kap_design(kap), kap_design(kap, fpc=False)
    check_chisq("kap.chisq_knows_wave", svychisq(kap["knows"], kap["wave"], d))
    check_chisq("kap_nofpc.chisq_knows_wave", svychisq(kap["knows"], kap["wave"], d0))
    r = svychisq(kap["practice"], kap["wave"], d)
    assert r.x_levels == ("always", "never", "sometimes")
    assert r.proportions.shape == (3, 2)
    assert r.proportions.sum() == pytest.approx(1.0)
    check_chisq("kap.chisq_practice_wave", r)
    check_chisq("kap_nofpc.chisq_practice_arm_endline",
                svychisq(kap["practice"], kap["arm"], d0, domain=kap["wave"] == "endline"))
    check_chisq("kap.chisq_knows_wave_F25",
                svychisq(kap["knows"], kap["wave"], d, domain=kap["segment"] == "F25+"))
    # trust has missing values: R's svychisq drops them (na.rm = TRUE)
    check_chisq("kap.chisq_trust_wave", svychisq(kap["trust"], kap["wave"], d))


def test_kap_chisq_integer_and_string_codes_agree(kap):
    d = kap_design(kap)
    as_int = svychisq(kap["knows"].astype(np.int8), (kap["wave"] == "endline"), d)
    as_str = svychisq(np.where(kap["knows"] == 1, "yes", "no"), kap["wave"], d)
    check_chisq("kap.chisq_knows_wave", as_int)
    check_chisq("kap.chisq_knows_wave", as_str)


def test_kap_glm_difference_in_differences(kap):
    d = kap_design(kap)
    endline = (kap["wave"] == "endline").astype(float)
    treat = (kap["arm"] == "treatment").astype(float)
    X = np.column_stack([endline, treat, endline * treat])
    names = ["waveendline", "armtreatment", "waveendline:armtreatment"]
    # R: svyglm(attitude ~ wave * arm, dk)
    m = svyglm_gaussian(kap["attitude"], X, d, names=names)
    check_glm("kap.glm_attitude_wave_x_arm", m)
    # R: svyglm(knows ~ endline * treatment, dk): the interaction is the DiD
    m = svyglm_gaussian(kap["knows"], X, d, names=names)
    check_glm("kap.glm_knows_did", m)
    did = m.lincom({"waveendline:armtreatment": 1})
    assert did.estimate == pytest.approx(ref("kap.glm_knows_did.coef[3]"), rel=REL)
    assert did.se == pytest.approx(ref("kap.glm_knows_did.se[3]"), rel=REL)
    assert did.p == pytest.approx(ref("kap.glm_knows_did.p[3]"), rel=1e-8)


def test_kap_glm_dose_response_slope(kap):
    d = kap_design(kap)
    # R: svyglm(knows ~ exposure, subset(dk, wave == "endline"))
    m = svyglm_gaussian(kap["knows"], kap["exposure"], d, names=["exposure"],
                        domain=kap["wave"] == "endline")
    check_glm("kap.glm_knows_exposure_endline", m)
    # R: svyglm(trust ~ exposure + endline, dk): rows with missing trust dropped
    m = svyglm_gaussian(kap["trust"], np.column_stack(
        [kap["exposure"], (kap["wave"] == "endline").astype(float)]), d,
        names=["exposure", "endline"], na_rm=True)
    check_glm("kap.glm_trust_exposure_narm", m)


def test_kap_lonely_psu(kap):
    # R: dropping all villages but one of stratum west.endline, svymean fails with
    # "Stratum (west.endline) has only one PSU at stage 1" (references.Rout)
    keep = ~((kap["stratum"] == "west.endline") & (kap["village"] != 1))
    sub = {k: v[keep] for k, v in kap.items()}
    d = Design(weights=sub["wt"], clusters=sub["village"], strata=sub["stratum"])
    r = svymean(sub["attitude"], d)
    assert not r.ok and "west.endline" in r.reason and r.se is None
    assert r.estimate is not None  # the point estimate is still valid
    t = svyttest(sub["attitude"], sub["arm"], d)
    assert not t.ok and "west.endline" in t.reason and t.p is None
    c = svychisq(sub["knows"], sub["wave"], d)
    assert not c.ok and c.f is None
    m = svyglm_gaussian(sub["attitude"], sub["exposure"], d)
    assert not m.ok and m.se is None and m.coef is not None
    # a domain that does not touch the lonely stratum is fine, as in R
    dom = (sub["region"] != "west") | (sub["wave"] != "endline")
    r = svymean(sub["attitude"], d, domain=dom)
    check_mean("kap_lonely.attitude_without_lonely_stratum", r, deff=False)


# ---------------------------------------------------------------------------
# by-groups, 2-D input, edge cases and input checks (no R needed)
# ---------------------------------------------------------------------------


def test_by_equals_separate_domains(kap):
    d = kap_design(kap)
    by = svymean(kap["knows"], d, by=kap["segment"])
    assert list(by) == ["F18-24", "F25+", "M18-24", "M25+"]
    for seg, r in by.items():
        single = svymean(kap["knows"], d, domain=kap["segment"] == seg)
        assert_same(r, single)
    tt = svyttest(kap["knows"], kap["wave"], d, by=kap["segment"])
    assert_same(tt["M25+"], svyttest(kap["knows"], kap["wave"], d, domain=kap["segment"] == "M25+"))
    check_ttest("kap.ttest_knows_wave_M25", tt["M25+"])
    ch = svychisq(kap["knows"], kap["wave"], d, by=kap["segment"])
    check_chisq("kap.chisq_knows_wave_F25", ch["F25+"])


def test_2d_y_equals_columns(kap):
    d = kap_design(kap)
    Y = np.column_stack([kap["knows"], kap["attitude"], kap["trust"]])
    dom = kap["arm"] == "treatment"
    many = svymean(Y, d, domain=dom, na_rm=True)
    assert len(many) == 3
    for j in range(3):
        assert_same(many[j], svymean(Y[:, j], d, domain=dom, na_rm=True))
    check_mean("kap.trust_narm_treatment", many[2])


def test_empty_domain_is_not_ok(kap):
    d = kap_design(kap)
    none = np.zeros(d.n, dtype=bool)
    r = svymean(kap["knows"], d, domain=none)
    assert not r.ok and r.estimate is None and "empty" in r.reason
    t = svyttest(kap["knows"], kap["wave"], d, domain=none)
    assert not t.ok and t.t is None
    c = svychisq(kap["knows"], kap["wave"], d, domain=none)
    assert not c.ok and c.f is None
    m = svyglm_gaussian(kap["knows"], kap["exposure"], d, domain=none)
    assert not m.ok and m.coef is None


def test_single_group_level_is_not_ok(kap):
    d = kap_design(kap)
    base = kap["wave"] == "baseline"
    t = svyttest(kap["knows"], kap["wave"], d, domain=base)
    assert not t.ok and t.levels == ("baseline",) and "single level" in t.reason
    c = svychisq(kap["knows"], kap["wave"], d, domain=base)
    assert not c.ok and "two levels" in c.reason


def test_zero_variance():
    d = Design(clusters=np.repeat(np.arange(6), 5))
    y = np.ones(30)
    r = svymean(y, d)
    assert r.ok and r.estimate == 1.0 and r.se == 0.0 and r.deff is None
    t = svyttest(y, np.repeat(np.arange(6) % 2, 5), d)
    assert not t.ok and "zero variance" in t.reason and t.estimate == 0.0
    c = svychisq(np.tile([0, 1], 15), np.repeat(np.arange(6) % 2, 5), d)
    # every cluster has the same table: no sampling variability
    assert not c.ok and "zero variance" in c.reason


def test_no_degrees_of_freedom():
    d = Design(clusters=[1, 1, 2, 2])  # df = 1, so t-test df = 0
    t = svyttest([1.0, 2.0, 3.0, 5.0], [0, 1, 0, 1], d)
    assert not t.ok and t.df == 0 and t.estimate == pytest.approx(1.5)
    m = svyglm_gaussian([1.0, 2.0, 3.0, 5.0], [0.0, 1.0, 0.0, 1.0], d)
    assert not m.ok and m.df == 0


def test_rank_deficient_glm(kap):
    d = kap_design(kap)
    x = (kap["wave"] == "endline").astype(float)
    m = svyglm_gaussian(kap["knows"], np.column_stack([x, 1 - x]), d)
    assert not m.ok and "rank deficient" in m.reason


def test_certainty_stratum_contributes_nothing():
    # a stratum sampled completely (fpc = number sampled) has no variance and
    # may have a single PSU, as R's onestrat
    y = np.array([1.0, 2.0, 3.0, 4.0, 10.0, 12.0])
    d = Design(clusters=[1, 1, 2, 2, 3, 3], strata=["a", "a", "a", "a", "b", "b"],
               fpc=[50, 50, 50, 50, 1, 1])
    r = svymean(y, d, domain=np.array([False, False, False, False, True, True]))
    assert r.ok and r.se == 0.0


def test_fpc_fraction_equals_population_count(strat):
    a = svymean(strat["api00"], strat_design(strat))
    n_h = {s: np.sum(strat["stype"] == s) for s in np.unique(strat["stype"])}
    frac = np.array([n_h[s] for s in strat["stype"]]) / strat["fpc"]
    b = svymean(strat["api00"], Design(weights=strat["pw"], strata=strat["stype"], fpc=frac))
    assert b.se == pytest.approx(a.se, rel=1e-12)


def test_design_defaults():
    d = Design.srs(5)
    assert (d.n, d.n_psu, d.n_strata, d.df) == (5, 5, 1, 4)
    r = svymean(np.array([1.0, 2.0, 3.0, 4.0, 5.0]), d)
    # SRS with replacement: se = s / sqrt(n)
    assert r.se == pytest.approx(np.std([1, 2, 3, 4, 5], ddof=1) / np.sqrt(5))
    assert r.deff is None  # weights do not sum to more than n (R: Inf)
    assert r.deff_replace == pytest.approx(1.0)
    assert repr(d) == "Design(n=5, n_psu=5, n_strata=1, df=4, fpc=False)"


def test_design_is_frozen_and_arrays_read_only():
    w = np.array([1.0, 2.0, 3.0])
    d = Design(weights=w)
    w[0] = 100.0  # the design kept a copy
    assert d.weights[0] == 1.0
    with pytest.raises(AttributeError):
        d.weights = w  # type: ignore[misc]
    with pytest.raises(ValueError):
        d.weights[0] = 5.0


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({}, "at least one"),
        ({"weights": [1.0, -1.0]}, "weights"),
        ({"weights": [1.0, np.nan]}, "weights"),
        ({"weights": [[1.0, 2.0]]}, "weights must be 1-D"),
        ({"weights": [1.0, 2.0], "clusters": [1, 2, 3]}, "clusters"),
        ({"clusters": [1.0, np.nan]}, "clusters"),
        ({"strata": ["a", None]}, "strata"),
        ({"clusters": [1, 2], "fpc": [10, 0.5]}, "fpc"),
        ({"clusters": [1, 2], "fpc": [1.5, 1.5]}, "fpc implies more than 100%"),
        ({"clusters": [1, 2, 3], "strata": [1, 1, 2], "fpc": [10, 20, 5]}, "fpc must be constant"),
        ({"weights": ["a", "b"]}, "weights must be numeric"),
    ],
)
def test_design_input_checks(kwargs, match):
    with pytest.raises(ValueError, match=match):
        Design(**kwargs)


def test_estimator_input_checks():
    d = Design(clusters=[1, 1, 2, 2])
    y = np.array([1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="y has 3 rows"):
        svymean(y[:3], d)
    with pytest.raises(ValueError, match="y must be numeric"):
        svymean(np.array(["a", "b", "c", "d"]), d)
    with pytest.raises(ValueError, match="y has infinite"):
        svymean(np.array([1.0, np.inf, 2.0, 3.0]), d)
    with pytest.raises(ValueError, match="domain must be a boolean"):
        svymean(y, d, domain=[1, 0, 1, 0])
    with pytest.raises(ValueError, match="domain must have shape"):
        svymean(y, d, domain=np.array([True, False]))
    with pytest.raises(ValueError, match="level"):
        svymean(y, d, level=95)
    with pytest.raises(ValueError, match="ci must be"):
        svymean(y, d, ci="wald")
    with pytest.raises(ValueError, match="group must have two levels"):
        svyttest(y, [0, 1, 2, 0], d)
    with pytest.raises(ValueError, match="group must be 1-D"):
        svyttest(y, [0, 1], d)
    with pytest.raises(ValueError, match="names has 2 entries"):
        svyglm_gaussian(y, y, d, names=["a", "b"])
    with pytest.raises(ValueError, match="x or group has missing"):
        svychisq([0.0, np.nan, 1.0, 1.0], [0, 0, 1, 1], d, na_rm=False)


def test_missing_outside_domain_is_ignored():
    d = Design(clusters=[1, 1, 2, 2, 3, 3])
    y = np.array([1.0, 2.0, 3.0, 4.0, np.nan, 6.0])
    dom = np.array([True, True, True, True, False, True])
    assert svymean(y, d, domain=dom).ok


# ---------------------------------------------------------------------------
# CellSums: a report's estimates from one pass over the rows
# ---------------------------------------------------------------------------


def kap_cells(kap):
    """Cells ``2 * segment + wave`` of the KAP data, and the segment labels."""
    segs, seg = np.unique(kap["segment"], return_inverse=True)
    return seg * 2 + (kap["wave"] == "endline"), list(segs)


def test_cell_sums_reproduce_r_from_one_pass(kap):
    d, d0 = kap_design(kap), kap_design(kap, fpc=False)
    cells, segs = kap_cells(kap)
    Y = np.column_stack([kap["knows"], kap["attitude"], kap["trust"]])
    sums = cell_sums(Y, d, cells, 2 * len(segs), shift=[0, None, 0])
    assert sums.binary.tolist() == [True, False, True]
    # R: svymean(~knows, subset(dk, wave == "endline" & segment == "F18-24"), deff = TRUE)
    check_mean("kap.knows_endline_F1824", sums.means()[0][2 * segs.index("F18-24") + 1])
    # R: svychisq(~knows + wave, subset(dk, segment == "F25+"))
    f25 = 2 * segs.index("F25+")
    check_chisq("kap.chisq_knows_wave_F25", sums.chisq([(f25, f25 + 1)], variables=[0])[0][0])
    # merged into waves: svychisq(~knows + wave, dk) and svychisq(~trust + wave, dk), NA dropped
    waves = sums.merge(np.arange(2 * len(segs)) % 2)
    check_chisq("kap.chisq_knows_wave", waves.chisq([(0, 1)], variables=[0])[0][0])
    check_chisq("kap.chisq_trust_wave", waves.chisq([(0, 1)], variables=[2])[0][0])
    check_chisq("kap_nofpc.chisq_knows_wave",
                cell_sums(kap["knows"], d0, cells % 2, shift=0).chisq([(0, 1)])[0][0])
    # merged into one cell: svymean(~attitude, dk, deff = TRUE), svymean(~trust, dk, na.rm = TRUE)
    everyone = sums.merge(np.zeros(2 * len(segs), dtype=int)).means()
    check_mean("kap.attitude", everyone[1][0])
    check_mean("kap.trust_narm", everyone[2][0])


def test_cell_sums_contrast_and_slope_reproduce_r(kap):
    d = kap_design(kap)
    endline = kap["wave"] == "endline"
    # R: svyglm(knows ~ endline * treatment, dk): the interaction is a contrast of the four cell means
    did_cells = 2 * endline + (kap["arm"] == "treatment")
    [did] = cell_sums(kap["knows"], d, did_cells, squares=False).contrast([1, -1, -1, 1])
    assert did.estimate == pytest.approx(ref("kap.glm_knows_did.coef[3]"), rel=REL)
    assert did.se == pytest.approx(ref("kap.glm_knows_did.se[3]"), rel=REL)
    assert did.p == pytest.approx(ref("kap.glm_knows_did.p[3]"), rel=1e-8)
    assert did.df == ref("kap.glm_knows_did.df")
    assert svycontrast_means(kap["knows"], d, did_cells, [1, -1, -1, 1]).se == pytest.approx(did.se, rel=1e-12)
    # R: svyglm(knows ~ exposure, subset(dk, wave == "endline")): the slope over exposure cells
    dose = np.where(endline, kap["exposure"], -1).astype(int)
    levels = np.arange(dose.max() + 1)
    [slope] = cell_sums(kap["knows"], d, dose, squares=False).slope(levels)
    assert slope.estimate == pytest.approx(ref("kap.glm_knows_exposure_endline.coef[1]"), rel=REL)
    assert slope.se == pytest.approx(ref("kap.glm_knows_exposure_endline.se[1]"), rel=REL)
    assert slope.df == ref("kap.glm_knows_exposure_endline.df")
    assert (slope.ci_low, slope.ci_high) == pytest.approx(
        (ref("kap.glm_knows_exposure_endline.ci_low[1]"), ref("kap.glm_knows_exposure_endline.ci_high[1]")), rel=1e-8)


def test_svyslope_fast_and_general_paths_agree_with_regression(kap):
    d = kap_design(kap)
    endline = kap["wave"] == "endline"
    for x in (kap["exposure"], kap["exposure"] + 0.5):  # small integers: cells; otherwise row by row
        r = svyslope(kap["attitude"], x, d, domain=endline)
        m = svyglm_gaussian(kap["attitude"], x, d, names=["x"], domain=endline)
        assert r.estimate == pytest.approx(m.coef[1], rel=1e-10)
        assert r.se == pytest.approx(m.se[1], rel=1e-8)
        assert r.df == m.df


def test_cell_sums_merge_equals_summing_coarse_cells(kap):
    d = kap_design(kap)
    cells, segs = kap_cells(kap)
    fine = cell_sums(kap["attitude"], d, cells, shift=3.0)
    coarse = cell_sums(kap["attitude"], d, cells % 2, shift=3.0)
    merged = fine.merge(np.arange(2 * len(segs)) % 2)
    for name in ("a", "b", "c", "n"):
        np.testing.assert_allclose(getattr(merged, name), getattr(coarse, name), rtol=1e-12)
    left_out = fine.merge(np.where(np.arange(2 * len(segs)) < 2, -1, np.arange(2 * len(segs)) % 2), 2)
    assert left_out.rows.sum() == coarse.rows.sum() - fine.rows[:2].sum()


def test_cell_sums_checks_its_input(kap):
    d = kap_design(kap)
    cells, _ = kap_cells(kap)
    with pytest.raises(ValueError, match="integer codes"):
        cell_sums(kap["knows"], d, cells.astype(float))
    with pytest.raises(ValueError, match="n_cells - 1"):
        cell_sums(kap["knows"], d, cells, 2)
    with pytest.raises(ValueError, match="one value per variable"):
        cell_sums(np.column_stack([kap["knows"], kap["attitude"]]), d, cells, shift=[0])
    with pytest.raises(ValueError, match="0/1"):
        cell_sums(kap["attitude"], d, cells).chisq([(0, 1)])
    with pytest.raises(ValueError, match="0/1"):  # 0/1 values summed around a shift are not exact weights
        cell_sums(kap["knows"], d, cells).chisq([(0, 1)])


def test_cell_sums_leave_out_negative_cells_and_missing_values():
    d = Design(clusters=[1, 1, 2, 2, 3, 3])
    y = np.array([1.0, np.nan, 0.0, 1.0, 1.0, 0.0])
    s = cell_sums(y, d, [0, 0, -1, 0, 0, 0], shift=0)
    assert s.rows.tolist() == [[4]]
    [[m]] = s.means()
    assert m.estimate == pytest.approx(0.75) and m.n == 4


def test_docstring_examples_run():
    failures, tried = doctest.testmod(design_module, optionflags=doctest.ELLIPSIS)
    assert tried > 10 and failures == 0


def test_speed_400k_rows():
    """One domain mean and one Rao-Scott test on 400,000 rows stay fast.

    Generous bounds (a shared 2-core machine); typical figures are a few ms.
    """
    rng = np.random.default_rng(0)
    n = 400_000
    d = Design(weights=rng.uniform(0.5, 3.0, n), clusters=rng.integers(0, 50, n),
               strata=np.repeat(np.arange(20), n // 20))
    y = (rng.random(n) < 0.4).astype(float)
    wave = (np.arange(n) >= n // 2).astype(np.int8)
    seg = rng.integers(0, 8, n)
    svymean(y, d, by=seg)
    t0 = time.process_time()
    for _ in range(5):
        svymean(y, d, by=seg * 2 + wave)
        svychisq(y, wave, d, by=seg)
    per_call = (time.process_time() - t0) / 10
    assert per_call < 0.1
