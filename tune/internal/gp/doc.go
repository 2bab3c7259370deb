// Package gp is a small Gaussian-process regressor for Bayesian
// optimisation (what scikit-optimize's gp_minimize and Ray's
// BayesOptSearch build on): a Matérn 5/2 kernel with one length scale per
// dimension (automatic relevance determination), a signal variance and a
// noise term, fitted by maximising the log marginal likelihood; expected
// improvement; and a seeded acquisition maximiser.
//
// Inputs are points of the unit cube [0,1]^d (callers normalise them);
// outputs are standardised inside the model, so hyperparameter bounds and
// EI's xi are in units of the observations' standard deviation.
package gp
