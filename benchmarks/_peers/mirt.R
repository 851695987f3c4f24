# Fit one unidimensional IRT model with R's mirt (a benchmark helper).
#
# Run by benchmarks/irt_vs_peers.py, one process per fit, so that it is timed on its own:
#
#     Rscript benchmarks/_peers/mirt.R MODEL DATA.csv OUT_DIR
#
# MODEL is 2PL or 3PL (mirt's itemtype). DATA.csv is a dense learners x items 0/1 matrix
# with a header row and NA for a missing response. The fit is mirt's default: EM (Bock &
# Aitkin) on 61 quadrature nodes, TOL = 1e-4, at most 500 cycles, no standard errors.
# OUT_DIR receives result.json (version, seconds: import, load, fit, and the fit's CPU
# seconds, user + system; EM cycles; convergence; mirt's log-likelihood) and
# estimates.csv (b, a, g per item, in the IRT parameterisation).
#
# mirt is looked up in R's library paths: set R_LIBS to a folder where it is installed
# (docs/benchmarks.md says how to build it from its sources without CRAN).

args <- commandArgs(trailingOnly = TRUE)
if (length(args) != 3) stop("usage: Rscript mirt.R MODEL DATA.csv OUT_DIR")
model <- args[[1]]
started <- proc.time()[["elapsed"]]
suppressPackageStartupMessages(library(mirt))
imported <- proc.time()[["elapsed"]]
data <- as.matrix(read.csv(args[[2]], header = TRUE, check.names = FALSE))
loaded <- proc.time()[["elapsed"]]
before <- proc.time()
fit <- mirt(data, 1, itemtype = model, verbose = FALSE, SE = FALSE)
after <- proc.time()
cpu <- (after[["user.self"]] + after[["sys.self"]]) - (before[["user.self"]] + before[["sys.self"]])
pars <- coef(fit, IRTpars = TRUE, simplify = TRUE)$items
dir.create(args[[3]], showWarnings = FALSE, recursive = TRUE)
write.csv(data.frame(b = pars[, "b"], a = pars[, "a"], g = pars[, "g"]),
          file.path(args[[3]], "estimates.csv"), row.names = FALSE)
result <- list(
  estimator = "mirt-r",
  version = as.character(packageVersion("mirt")),
  r_version = paste(R.version$major, R.version$minor, sep = "."),
  import_seconds = imported - started,
  load_seconds = loaded - imported,
  fit_seconds = after[["elapsed"]] - before[["elapsed"]],
  fit_cpu_seconds = cpu,
  iterations = extract.mirt(fit, "iterations"),
  iteration_unit = "EM cycles",
  converged = extract.mirt(fit, "converged"),
  loglik = extract.mirt(fit, "logLik"),
  notes = paste0("mirt(X, 1, itemtype = '", model, "', SE = FALSE): EM on 61 nodes, ",
                 "TOL 1e-4, at most 500 cycles, no standard errors")
)
writeLines(jsonlite::toJSON(result, auto_unbox = TRUE, digits = NA),
           file.path(args[[3]], "result.json"))
