// Package mlp is the model of rayo Data's batch-inference example and
// benchmark (issue 16, row 5): a small multilayer perceptron (in → hidden
// → out, ReLU, softmax) in float32 whose matrix products are gonum's BLAS
// (blas32.Gemm), trained by plain mini-batch SGD with backpropagation, and
// saved in a small checksummed binary format.
//
// It imports nothing of rayo, so that the example can show the same model
// called in a plain loop and inside an actor pool (Ray's
// ds.map_batches(Predictor, concurrency=n) with a callable class that
// loads the model once per actor). Digits draws the example's input: 8x8
// images of the ten digits as noisy seven-segment bars.
package mlp
