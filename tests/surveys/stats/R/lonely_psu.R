# Reference values for the lonely-PSU options of surveys/stats/design.py
# (tests/surveys/stats/test_lonely_psu.py).
#
# Run from the repository root:
#   Rscript -e 'source("tests/surveys/stats/R/lonely_psu.R", echo = TRUE, max.deparse.length = Inf, spaced = TRUE)' \
#     > tests/surveys/stats/R/lonely_psu.Rout 2>&1
#
# Data: tests/surveys/stats/data/kap_synthetic.csv (written by references.R), with every
# village but village 1 of stratum west.endline dropped, so that stratum has a single PSU.
# For each of R's options(survey.lonely.psu = ...) it prints "REF <option>.<name> = <value>"
# (15 significant digits) for: the mean of the whole design, the mean by wave (svyby: a
# domain that touches the lonely stratum and one that does not), a t-test by arm, a
# Rao-Scott test of knows by wave, a regression on exposure, the design with an fpc, and a
# domain in which the strata of the north region keep one village only (with and without
# options(survey.adjust.domain.lonely = TRUE)).
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

kap <- read.csv("tests/surveys/stats/data/kap_synthetic.csv")
lonely <- kap[!(kap$stratum == "west.endline" & kap$village != 1), ]
lonely$north1 <- lonely$region != "north" | lonely$village == 1

for (opt in c("remove", "adjust", "average", "certainty")) {
  options(survey.lonely.psu = opt, survey.adjust.domain.lonely = FALSE)
  d <- svydesign(id = ~village, strata = ~stratum, weights = ~wt, nest = TRUE, data = lonely)
  m <- suppressWarnings(svymean(~attitude, d))
  ref(paste0(opt, ".mean.se"), SE(m))
  b <- suppressWarnings(svyby(~attitude, ~wave, d, svymean))
  ref(paste0(opt, ".by_wave.se"), SE(b))  # baseline, endline
  tt <- suppressWarnings(svyttest(attitude ~ arm, d))
  ref(paste0(opt, ".ttest_arm.t"), tt$statistic)
  ref(paste0(opt, ".ttest_arm.p"), tt$p.value)
  tw <- suppressWarnings(svyttest(attitude ~ wave, d))
  ref(paste0(opt, ".ttest_wave.diff"), tw$estimate)
  ref(paste0(opt, ".ttest_wave.t"), tw$statistic)
  ref(paste0(opt, ".ttest_wave.df"), tw$parameter)
  tk <- suppressWarnings(svyttest(knows ~ wave, d))  # the report's knowledge score (100 * knows)
  ref(paste0(opt, ".ttest_wave_knows.t"), tk$statistic)
  ref(paste0(opt, ".ttest_wave_knows.ci"), tk$conf.int)
  ch <- suppressWarnings(svychisq(~knows + wave, d))
  ref(paste0(opt, ".chisq.F"), ch$statistic)
  ref(paste0(opt, ".chisq.ndf"), ch$parameter["ndf"])
  g <- suppressWarnings(svyglm(attitude ~ exposure, d))
  ref(paste0(opt, ".glm.se"), SE(g))
  ref(paste0(opt, ".glm.df"), g$df.residual)
  df <- svydesign(id = ~village, strata = ~stratum, weights = ~wt, fpc = ~fpc, nest = TRUE, data = lonely)
  ref(paste0(opt, ".fpc_mean.se"), SE(suppressWarnings(svymean(~attitude, df))))
  for (dl in c(FALSE, TRUE)) {
    options(survey.adjust.domain.lonely = dl)
    dn <- suppressWarnings(svymean(~attitude, subset(d, north1)))
    ref(paste0(opt, ".north1", if (dl) ".domain_lonely" else "", ".se"), SE(dn))
  }
  options(survey.adjust.domain.lonely = FALSE)
}
print(packageVersion("survey"))
cat("\n", refs, sep = "\n")
