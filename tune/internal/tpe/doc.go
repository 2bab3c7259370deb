// Package tpe is the Tree-structured Parzen Estimator (Bergstra et al.,
// "Algorithms for Hyper-Parameter Optimization", NeurIPS 2011) as
// Optuna 3.1's TPESampler runs it, on a purely numeric description of a
// search space: dimensions (Dim), past trials (Observation) and a
// Sampler that proposes the next point. Package tune's TPE searcher maps
// a tune.Space onto it; this package knows nothing of tune.
//
// A point is a []float64 with one entry per Dim: a float's or an int's
// value as the user sees it, or a categorical's choice index.
package tpe
