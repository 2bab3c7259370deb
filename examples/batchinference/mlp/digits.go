package mlp

import "math/rand/v2"

// Image is the side of Digits' square images.
const Image = 8

// segments are the seven bars of a seven-segment digit on an 8x8 grid:
// rectangles {row0, row1, col0, col1}, inclusive.
var segments = [7][4]int{
	{0, 0, 1, 6}, // top
	{1, 3, 7, 7}, // top right
	{4, 6, 7, 7}, // bottom right
	{7, 7, 1, 6}, // bottom
	{4, 6, 0, 0}, // bottom left
	{1, 3, 0, 0}, // top left
	{3, 4, 1, 6}, // middle
}

// digitSegments lists each digit's lit segments, as a seven-segment
// display draws it (bit i is segments[i]).
var digitSegments = [10]uint8{
	0b0111111, 0b0000110, 0b1011011, 0b1001111, 0b1100110,
	0b1101101, 0b1111101, 0b0000111, 0b1111111, 0b1101111,
}

// Digits draws n noisy 8x8 images of the digits 0-9 (n×64 float32,
// row-major, about 0 for dark and 1 for lit) and their labels, from seed:
// each digit's seven-segment bars at a random brightness in [0.6, 1),
// plus Gaussian noise of standard deviation 0.3 on every pixel.
func Digits(n int, seed uint64) ([]float32, []int) {
	r := rand.New(rand.NewPCG(seed, 0x646967))
	x := make([]float32, n*Image*Image)
	labels := make([]int, n)
	for i := range n {
		d := r.IntN(10)
		labels[i] = d
		img := x[i*Image*Image : (i+1)*Image*Image]
		level := float32(0.6 + 0.4*r.Float64())
		for s, seg := range segments {
			if digitSegments[d]&(1<<s) == 0 {
				continue
			}
			for row := seg[0]; row <= seg[1]; row++ {
				for c := seg[2]; c <= seg[3]; c++ {
					img[row*Image+c] = level
				}
			}
		}
		for j := range img {
			img[j] += float32(0.3 * r.NormFloat64())
		}
	}
	return x, labels
}
