package mlp

import _ "embed"

// shippedModel is the trained model that the batch-inference and Serve
// examples ship (mlp_test.go's -write-model regenerates it), embedded so
// that a program, driver and workers alike, finds it from any directory.
//
//go:embed model.bin
var shippedModel []byte

// Shipped decodes the shipped model: a fresh copy per call, so that each
// caller (an actor, a replica) owns its weights.
func Shipped() (*Model, error) {
	m := new(Model)
	if err := m.UnmarshalBinary(shippedModel); err != nil {
		return nil, err
	}
	return m, nil
}
