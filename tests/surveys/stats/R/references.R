# Reference values for surveys/stats/design.py (tests/surveys/stats/test_design.py).
#
# Run from the repository root (echo = TRUE puts each call in the output):
#   Rscript -e 'source("tests/surveys/stats/R/references.R", echo = TRUE, max.deparse.length = Inf, spaced = TRUE)' \
#     > tests/surveys/stats/R/references.Rout 2>&1
#
# It (1) writes the data files the Python tests read, under tests/surveys/stats/data/
# (apistrat.csv, apiclus2.csv: columns of the survey package's `api` data;
# kap_synthetic.csv: a synthetic stratified, clustered, weighted KAP survey made
# here with a fixed seed), and (2) prints every reference value as
# "REF <name> = <value>" with 15 significant digits, after the ordinary R printout.
# R 4.2.2, survey 4.1-1 (Debian bookworm: r-base-core, r-cran-survey).

suppressMessages(library(survey))
options(digits = 15, width = 100)
cat("R:", R.version.string, "\nsurvey:", as.character(packageVersion("survey")), "\n\n")

refs <- character()
ref <- function(name, value) {
  value <- unname(value)
  for (i in seq_along(value)) {
    nm <- if (length(value) > 1) paste0(name, "[", i - 1, "]") else name
    refs <<- c(refs, sprintf("REF %s = %.15g", nm, value[i]))
  }
}
ref_mean <- function(prefix, m) {
  ref(paste0(prefix, ".mean"), coef(m))
  ref(paste0(prefix, ".se"), SE(m))
  if (!is.null(attr(m, "deff"))) ref(paste0(prefix, ".deff"), diag(as.matrix(attr(m, "deff"))))
}
ref_ttest <- function(prefix, tt) {
  ref(paste0(prefix, ".diff"), tt$estimate)
  ref(paste0(prefix, ".t"), tt$statistic)
  ref(paste0(prefix, ".df"), tt$parameter)
  ref(paste0(prefix, ".p"), tt$p.value)
  ref(paste0(prefix, ".ci"), tt$conf.int)
}
ref_chisq <- function(prefix, ch) {
  ref(paste0(prefix, ".F"), ch$statistic)
  ref(paste0(prefix, ".ndf"), ch$parameter["ndf"])
  ref(paste0(prefix, ".ddf"), ch$parameter["ddf"])
  ref(paste0(prefix, ".p"), ch$p.value)
}
ref_glm <- function(prefix, m) {
  s <- summary(m)$coefficients
  ref(paste0(prefix, ".coef"), s[, 1])
  ref(paste0(prefix, ".se"), s[, 2])
  ref(paste0(prefix, ".t"), s[, 3])
  ref(paste0(prefix, ".p"), s[, 4])
  ref(paste0(prefix, ".df"), m$df.residual)
  ci <- confint(m)
  ref(paste0(prefix, ".ci_low"), ci[, 1])
  ref(paste0(prefix, ".ci_high"), ci[, 2])
  ref(paste0(prefix, ".vcov"), as.vector(t(vcov(m))))  # row-major
}

data(api)
out <- "tests/surveys/stats/data"

## ---------------------------------------------------------------- apiclus1
## One-stage cluster sample of school districts (shared/reference/apiclus1.csv)
dc1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc, data = apiclus1)
dc1_nofpc <- svydesign(id = ~dnum, weights = ~pw, data = apiclus1)
print(m <- svymean(~api00, dc1, deff = TRUE)); ref_mean("clus1.api00", m)
print(m <- svymean(~api00, dc1_nofpc, deff = TRUE)); ref_mean("clus1_nofpc.api00", m)
print(tt <- svyttest(enroll ~ comp.imp, dc1)); ref_ttest("clus1.ttest_enroll_compimp", tt)
print(ch <- svychisq(~sch.wide + stype, dc1)); ref_chisq("clus1.chisq_schwide_stype", ch)
print(ch <- svychisq(~sch.wide + stype, dc1_nofpc)); ref_chisq("clus1_nofpc.chisq_schwide_stype", ch)
# domain: elementary schools
print(m <- svymean(~api00, subset(dc1, stype == "E"), deff = TRUE)); ref_mean("clus1.api00_E", m)
ref("clus1.api00_E.degf", degf(subset(dc1, stype == "E")))
print(m <- svyglm(api00 ~ api99 + enroll, dc1)); print(summary(m)); ref_glm("clus1.glm_api00_api99_enroll", m)

## ---------------------------------------------------------------- apistrat
## Stratified (by school type) simple random sample without replacement
write.csv(apistrat[, c("cds", "stype", "dnum", "snum", "sch.wide", "comp.imp", "awards",
                       "yr.rnd", "api00", "api99", "enroll", "ell", "meals", "pw", "fpc")],
          file.path(out, "apistrat.csv"), row.names = FALSE)
ds <- svydesign(id = ~1, strata = ~stype, weights = ~pw, fpc = ~fpc, data = apistrat)
ds_nofpc <- svydesign(id = ~1, strata = ~stype, weights = ~pw, data = apistrat)
print(ds)
ref("strat.degf", degf(ds))
print(m <- svymean(~api00, ds, deff = TRUE)); ref_mean("strat.api00", m)
print(m <- svymean(~api00, ds_nofpc, deff = TRUE)); ref_mean("strat_nofpc.api00", m)
print(m <- svymean(~api00, subset(ds, sch.wide == "Yes"), deff = TRUE)); ref_mean("strat.api00_schwideYes", m)
ref("strat.api00_schwideYes.degf", degf(subset(ds, sch.wide == "Yes")))
print(tt <- svyttest(api00 ~ comp.imp, ds)); ref_ttest("strat.ttest_api00_compimp", tt)
print(tt <- svyttest(api00 ~ yr.rnd, subset(ds, stype != "E"))); ref_ttest("strat.ttest_api00_yrrnd_notE", tt)
print(ch <- svychisq(~awards + yr.rnd, ds)); ref_chisq("strat.chisq_awards_yrrnd", ch)
print(ch <- svychisq(~sch.wide + stype, ds)); ref_chisq("strat.chisq_schwide_stype", ch)
print(m <- svyglm(api00 ~ ell + meals, ds)); print(summary(m)); ref_glm("strat.glm_api00_ell_meals", m)

## ---------------------------------------------------------------- apiclus2
## Two-stage cluster sample (districts, then schools). Without fpc, R's variance
## uses the first stage only, which is what design.py implements; with an fpc for
## the first stage only it is also one-stage.
write.csv(apiclus2[, c("cds", "stype", "dnum", "snum", "sch.wide", "comp.imp", "awards",
                       "api00", "api99", "enroll", "ell", "meals", "pw", "fpc1", "fpc2")],
          file.path(out, "apiclus2.csv"), row.names = FALSE)
d2 <- svydesign(id = ~dnum + snum, weights = ~pw, data = apiclus2)
d2_fpc1 <- svydesign(id = ~dnum, weights = ~pw, fpc = ~fpc1, data = apiclus2)
print(d2)
print(m <- svymean(~enroll, d2, na.rm = TRUE, deff = TRUE)); ref_mean("clus2.enroll_narm", m)
print(m <- svymean(~api00, d2, deff = TRUE)); ref_mean("clus2.api00", m)
print(m <- svymean(~api00, d2_fpc1, deff = TRUE)); ref_mean("clus2_fpc1.api00", m)
print(tt <- svyttest(enroll ~ comp.imp, d2)); ref_ttest("clus2.ttest_enroll_compimp", tt)
print(ch <- svychisq(~sch.wide + stype, d2)); ref_chisq("clus2.chisq_schwide_stype", ch)

## ---------------------------------------------------------------- synthetic KAP survey
## Two cross-sectional waves (baseline, endline) x 4 regions = 8 strata; 6 villages
## (PSUs) per stratum, numbered 1..6 inside each stratum (so they must be nested);
## villages 1-3 control, 4-6 treatment arm; 10-18 respondents per village; unequal
## weights. Items: knows (0/1), attitude (score), practice (3 levels), trust (0/1 with
## missing values), exposure (count of campaign contacts).
set.seed(20240611)
regions <- c("north", "south", "east", "west")
popvill <- c(north = 40, south = 55, east = 30, west = 48)
segments <- c("F18-24", "F25+", "M18-24", "M25+")
parts <- list()
for (wave in c("baseline", "endline")) for (region in regions) for (v in 1:6) {
  arm <- if (v <= 3) "control" else "treatment"
  m <- sample(10:18, 1)
  u <- rnorm(1, 0, 0.7)
  hh <- round(runif(1, 80, 400))
  seg <- sample(segments, m, replace = TRUE, prob = c(0.2, 0.3, 0.2, 0.3))
  endl <- wave == "endline"
  treat <- arm == "treatment"
  exposure <- pmin(rpois(m, 0.3 + 2.2 * endl * treat + 0.4 * endl), 6)
  eta <- -0.6 + u + 0.3 * endl + 0.9 * endl * treat + 0.15 * exposure + 0.3 * (substr(seg, 1, 1) == "F")
  knows <- rbinom(m, 1, plogis(eta))
  attitude <- round(2.8 + 0.5 * u + 0.2 * endl + 0.35 * endl * treat + 0.05 * exposure + rnorm(m, 0, 0.8), 3)
  practice <- c("never", "sometimes", "always")[1 + rbinom(m, 2, plogis(eta - 0.4))]
  trust <- rbinom(m, 1, plogis(0.2 + 0.5 * u))
  trust[runif(m) < 0.08] <- NA
  wt <- round(popvill[region] / 6 * hh / m * runif(m, 0.8, 1.25), 4)
  parts[[length(parts) + 1]] <- data.frame(
    wave = wave, region = region, stratum = paste(region, wave, sep = "."), village = v,
    arm = arm, segment = seg, wt = wt, fpc = unname(popvill[region]), exposure = exposure,
    knows = knows, attitude = attitude, practice = practice, trust = trust)
}
kap <- do.call(rbind, parts)
write.csv(kap, file.path(out, "kap_synthetic.csv"), row.names = FALSE)
kap <- read.csv(file.path(out, "kap_synthetic.csv"))  # analyse exactly what Python reads
cat("\nkap_synthetic.csv:", nrow(kap), "rows\n")
print(head(kap))

dk <- svydesign(id = ~village, strata = ~stratum, weights = ~wt, fpc = ~fpc, nest = TRUE, data = kap)
dk0 <- svydesign(id = ~village, strata = ~stratum, weights = ~wt, nest = TRUE, data = kap)
print(dk)
ref("kap.degf", degf(dk))

print(m <- svymean(~attitude, dk, deff = TRUE)); ref_mean("kap.attitude", m)
print(m <- svymean(~attitude, dk0, deff = TRUE)); ref_mean("kap_nofpc.attitude", m)
print(m <- svymean(~knows, dk, deff = TRUE)); ref_mean("kap.knows", m)
# domain mean: endline women 18-24
print(m <- svymean(~knows, subset(dk, wave == "endline" & segment == "F18-24"), deff = TRUE)); ref_mean("kap.knows_endline_F1824", m)
ref("kap.knows_endline_F1824.degf", degf(subset(dk, wave == "endline" & segment == "F18-24")))
print(ci <- confint(m, df = degf(subset(dk, wave == "endline" & segment == "F18-24")))); ref("kap.knows_endline_F1824.ci_t", ci)
print(ci <- confint(m)); ref("kap.knows_endline_F1824.ci_normal", ci)
# domain in a single stratum: the other strata have no domain rows
print(m <- svymean(~attitude, subset(dk, region == "east" & wave == "baseline" & arm == "treatment"), deff = TRUE)); ref_mean("kap.attitude_east_baseline_treat", m)
ref("kap.attitude_east_baseline_treat.degf", degf(subset(dk, region == "east" & wave == "baseline" & arm == "treatment")))
# missing values
print(m <- svymean(~trust, dk, na.rm = TRUE, deff = TRUE)); ref_mean("kap.trust_narm", m)
print(m <- svymean(~trust, subset(dk, arm == "treatment"), na.rm = TRUE, deff = TRUE)); ref_mean("kap.trust_narm_treatment", m)
# t-tests
print(tt <- svyttest(knows ~ wave, dk0)); ref_ttest("kap_nofpc.ttest_knows_wave", tt)
print(tt <- svyttest(attitude ~ arm, subset(dk, wave == "endline"))); ref_ttest("kap.ttest_attitude_arm_endline", tt)
print(tt <- svyttest(trust ~ wave, dk)); ref_ttest("kap.ttest_trust_wave", tt)
print(tt <- svyttest(knows ~ wave, subset(dk, segment == "M25+"))); ref_ttest("kap.ttest_knows_wave_M25", tt)
# Rao-Scott chi-square
print(ch <- svychisq(~knows + wave, dk)); ref_chisq("kap.chisq_knows_wave", ch)
print(ch <- svychisq(~knows + wave, dk0)); ref_chisq("kap_nofpc.chisq_knows_wave", ch)
print(ch <- svychisq(~practice + wave, dk)); ref_chisq("kap.chisq_practice_wave", ch)
print(ch <- svychisq(~practice + arm, subset(dk0, wave == "endline"))); ref_chisq("kap_nofpc.chisq_practice_arm_endline", ch)
print(ch <- svychisq(~knows + wave, subset(dk, segment == "F25+"))); ref_chisq("kap.chisq_knows_wave_F25", ch)
print(ch <- svychisq(~trust + wave, dk)); ref_chisq("kap.chisq_trust_wave", ch)
# regression: difference in differences and dose-response slope
kap$endline <- as.numeric(kap$wave == "endline")
kap$treatment <- as.numeric(kap$arm == "treatment")
dk <- svydesign(id = ~village, strata = ~stratum, weights = ~wt, fpc = ~fpc, nest = TRUE, data = kap)
print(m <- svyglm(attitude ~ wave * arm, dk)); print(summary(m)); ref_glm("kap.glm_attitude_wave_x_arm", m)
print(m <- svyglm(knows ~ endline * treatment, dk)); print(summary(m)); ref_glm("kap.glm_knows_did", m)
print(m <- svyglm(knows ~ exposure, subset(dk, wave == "endline"))); print(summary(m)); ref_glm("kap.glm_knows_exposure_endline", m)
print(m <- svyglm(trust ~ exposure + endline, dk)); print(summary(m)); ref_glm("kap.glm_trust_exposure_narm", m)
# fpc given as sampling fractions gives the same design
dkf <- svydesign(id = ~village, strata = ~stratum, weights = ~wt, fpc = ~I(6 / fpc), nest = TRUE, data = kap)
print(m <- svymean(~attitude, dkf)); ref_mean("kap_fraction.attitude", m)
# a stratum with a single PSU: R's default lonely.psu = "fail" is an error
lonely <- kap[!(kap$stratum == "west.endline" & kap$village != 1), ]
dl <- svydesign(id = ~village, strata = ~stratum, weights = ~wt, nest = TRUE, data = lonely)
print(try(svymean(~attitude, dl)))
print(m <- svymean(~attitude, subset(dl, region != "west" | wave != "endline"))); ref_mean("kap_lonely.attitude_without_lonely_stratum", m)

cat("\n## Reference values\n")
writeLines(refs)
