// Package curves holds closed-form synthetic training problems for
// testing and benchmarking trial schedulers (ASHA, HyperBand, the median
// rule, PBT) without training anything. It has no rayo dependency.
//
// Learning curves: 100 configurations (Configs), each a loss curve
// Loss(c, iteration) that falls from 1 to a final value depending on the
// configuration. Two families cross: Fast configurations drop quickly and
// plateau high, Slow ones start slowly and end low, so the ranking after
// a few iterations is not the final one.
//
// PBT problem: a loss driven by a learning rate whose best value changes
// during training (high early, low late). PBTStep advances the state (the
// loss, which a checkpoint carries); BestFixedLR gives the best constant
// learning rate, which a good schedule beats.
package curves
