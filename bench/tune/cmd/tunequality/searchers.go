package main

import "github.com/rayo-dev/rayo/tune"

// searchers are the searchers the command can judge, by name; each
// constructor gets the run's seed (it also reaches Setup as
// SearchConfig.Seed). To add one (random search, tune.BayesOpt), add a
// line here; optunaNames pairs it with an Optuna sampler if there is one.
var searchers = map[string]func(seed int64) tune.Searcher{
	"tpe":              func(int64) tune.Searcher { return tune.TPE(tune.TPEConfig{}) },
	"tpe-multivariate": func(int64) tune.Searcher { return tune.TPE(tune.TPEConfig{Multivariate: true}) },
	"gp":               func(int64) tune.Searcher { return tune.BayesOpt(tune.BayesOptConfig{}) },
	"random":           func(int64) tune.Searcher { return tune.BasicVariantGenerator(tune.BasicConfig{}) },
}

// optunaNames maps a searcher to the optuna_quality.py sampler it is
// compared with.
var optunaNames = map[string]string{
	"tpe":              "tpe",
	"tpe-multivariate": "tpe-multivariate",
}
