package main

import "github.com/rayo-dev/rayo/tune"

// TPE (tune.TPE, Optuna's TPESampler as Ray's OptunaSearch runs it) joins
// the searchers -searcher can name.
func init() {
	searchers["tpe"] = func() tune.Searcher { return tune.TPE(tune.TPEConfig{}) }
}
