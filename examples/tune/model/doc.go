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
// The hidden layers' products run on gonum's floats kernels. An epoch
// over the default 1,600 training points takes about 1 ms with 8 hidden
// units, 4 ms with 32 and 11 ms with 64 on one core (BenchmarkEpoch).
//
// A search space over which tuning matters, in Config's fields: LR
// log-uniform in [1e-4, 1] (about 0.05 to 0.3 learns the spirals in a
// few dozen epochs; 1 and above diverges), Momentum in [0, 0.99],
// Hidden one of 8, 16, 32, 64, WeightDecay log-uniform in [1e-6, 1e-1]
// (above about 1e-2 the model cannot fit), BatchSize one of 16, 32, 64,
// 128. Report ValidLoss (to minimise) and Accuracy after each Epoch, and
// a checkpoint of MarshalBinary's bytes.
package model
