// Package model is the small, real model that the tune example tunes: a
// multilayer perceptron (two tanh hidden layers, a sigmoid output)
// trained by minibatch SGD with momentum and weight decay to tell apart
// two interleaved spirals, a synthetic, seeded, noisy data set split into
// training and validation points.
//
// Its hyperparameters (learning rate, momentum, hidden width, weight
// decay, batch size) change how well and how fast it learns, so tuning
// matters: too small a learning rate barely moves, too large a one
// oscillates or diverges. Everything is deterministic for a fixed
// Config: the data, the initial weights and the order of the minibatches
// come from seeded generators (math/rand/v2's PCG), whose state a
// checkpoint (MarshalBinary) keeps, so a model restored from one trains
// on exactly as the original would have.
//
// An epoch over 1,600 training points with 32 hidden units takes a few
// milliseconds on one core (BenchmarkEpoch).
package model
