# The design-based tests of Konbit's KAP-shift report, in R's survey package, on the data
# benchmarks/analysis_report.py exports; prints the seconds spent computing (not reading).
#   Rscript benchmarks/analysis_report.R data.csv
# Columns: wave (0/1), stratum, cluster, weight, segment, treated (0/1, NA: neither arm),
# dose (channels heard, capped at 3; NA outside the endline), then one column per outcome:
# items (i_*, 0/1/NA) and domain scores (d_*, 0-100/NA).
# Prints the seconds, then, to check that both compute the same thing, the Rao-Scott F of the
# first item (all respondents) and the difference in differences of the last outcome (a domain score).
suppressMessages(library(survey))
args <- commandArgs(trailingOnly = TRUE)
kap <- read.csv(args[1])
kap$stratum2 <- paste(kap$stratum, kap$wave)  # the stacked design: strata are stratum x wave
outcomes <- grep("^[id]_", names(kap), value = TRUE)
segments <- sort(unique(kap$segment[kap$segment != ""]))
started <- Sys.time()
d <- svydesign(ids = ~cluster, strata = ~stratum2, weights = ~weight, nest = TRUE, data = kap)
arms <- subset(d, !is.na(treated))
exposed <- subset(d, wave == 1 & !is.na(dose))
by_segment <- lapply(segments, function(s) subset(d, segment == s))
for (y in outcomes) {
  one <- as.formula(paste0("~", y))
  # means by wave, overall and by segment (with design effects)
  svyby(one, ~wave, d, svymean, na.rm = TRUE, deff = TRUE)
  svyby(one, ~segment + wave, d, svymean, na.rm = TRUE, deff = TRUE)
  # the change between waves: Rao-Scott for an item, design-based t for a domain score
  if (startsWith(y, "i_")) {
    test <- function(design) svychisq(as.formula(paste0("~", y, " + wave")), design)
  } else {
    test <- function(design) svyttest(as.formula(paste(y, "~ wave")), design)
  }
  overall <- test(d)
  for (ds in by_segment) test(ds)
  # difference in differences: the wave:arm interaction
  did <- svyglm(as.formula(paste(y, "~ wave * treated")), arms)
  if (y == outcomes[1]) first_f <- unname(overall$statistic)
  # exposure: endline means by dose and the dose-response slope
  svyby(one, ~dose, exposed, svymean, na.rm = TRUE)
  svyglm(as.formula(paste(y, "~ dose")), exposed)
}
elapsed <- as.numeric(difftime(Sys.time(), started, units = "secs"))
cat(sprintf("%.3f\n%.15g\n%.15g\n", elapsed, first_f, coef(did)[["wave:treated"]]))
