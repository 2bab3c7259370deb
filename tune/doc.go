// Package tune is rayo's hyperparameter tuning, as Ray Tune is Ray's: it
// runs many trials of a training function across the cluster, each an
// actor with its own resources, stops bad ones early (ASHA, HyperBand,
// the median rule, PBT), searches the space (random and grid, TPE,
// Gaussian-process Bayesian optimisation), and survives crashes of trials
// and of the driver.
//
// Like Ray's libraries, it is built on the public rayo API alone; it
// imports nothing under rayo's internal/ (imports_test.go at the
// repository root checks this).
package tune
