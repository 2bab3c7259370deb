package curves

import "math"

// The PBT problem: training moves the loss L towards a floor of 2·lr at
// a rate of 5·lr per step: L' = 2lr + (L - 2lr)(1 - 5lr). A high learning
// rate falls fast to a high floor, a low one slowly to a low floor, so
// the best learning rate shrinks as L does (greedily, lr = L/4), and a
// decaying schedule beats every constant one.
const (
	PBTInitialLoss = 1.0
	PBTMinLR       = 1e-4
	PBTMaxLR       = 0.2
)

// PBTStep is one training step from loss with learning rate lr (clamped
// to [PBTMinLR, PBTMaxLR]).
func PBTStep(loss, lr float64) float64 {
	lr = math.Max(PBTMinLR, math.Min(PBTMaxLR, lr))
	floor := 2 * lr
	return floor + (loss-floor)*(1-5*lr)
}

// PBTLoss is the loss after steps steps at a constant lr.
func PBTLoss(lr float64, steps int) float64 {
	l := PBTInitialLoss
	for range steps {
		l = PBTStep(l, lr)
	}
	return l
}

// BestFixedLR returns the constant learning rate with the lowest loss
// after steps steps, and that loss, by a fine search in log space.
func BestFixedLR(steps int) (lr, loss float64) {
	loss = math.Inf(1)
	const n = 4000
	for i := 0; i <= n; i++ {
		x := math.Exp(math.Log(PBTMinLR) + float64(i)/n*(math.Log(PBTMaxLR)-math.Log(PBTMinLR)))
		if l := PBTLoss(x, steps); l < loss {
			lr, loss = x, l
		}
	}
	return lr, loss
}

// GreedyScheduleLoss is the loss after steps steps of the greedy
// schedule (each step's best lr, L/4 within bounds): a reference a
// population-based search can approach.
func GreedyScheduleLoss(steps int) float64 {
	l := PBTInitialLoss
	for range steps {
		l = PBTStep(l, l/4)
	}
	return l
}
