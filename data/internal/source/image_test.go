package source

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"testing"
)

// TestPixelsFastPathsMatchThePixelByPixelOnes: every image type pixels
// special-cases gives what the per-pixel NRGBA conversion gives (JPEG's
// YCbCr within 1, as image/draw rounds its conversion at 8 bits).
func TestPixelsFastPathsMatchThePixelByPixelOnes(t *testing.T) {
	const w, h = 5, 4
	r := image.Rect(0, 0, w, h)
	nrgba := image.NewNRGBA(r)
	rgba := image.NewRGBA(r)
	gray := image.NewGray(r)
	pal := image.NewPaletted(r, color.Palette{color.RGBA{1, 2, 3, 255}, color.RGBA{200, 100, 50, 255}})
	for y := range h {
		for x := range w {
			nrgba.Set(x, y, color.NRGBA{uint8(40 * x), uint8(60 * y), 9, uint8(50 * (x + y))}) // translucent
			rgba.Set(x, y, color.RGBA{uint8(40 * x), uint8(60 * y), 9, 255})
			gray.Set(x, y, color.Gray{uint8(13 * (x + y))})
			pal.SetColorIndex(x, y, uint8((x+y)%2))
		}
	}
	var jb bytes.Buffer
	if err := jpeg.Encode(&jb, rgba, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	ycc, err := jpeg.Decode(&jb)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ycc.(*image.YCbCr); !ok {
		t.Fatalf("JPEG decoded to %T", ycc)
	}
	// A sub-image: its bounds do not start at 0.
	sub := rgba.SubImage(image.Rect(1, 1, 4, 3))
	for name, img := range map[string]image.Image{"nrgba": nrgba, "rgba": rgba, "gray": gray, "paletted": pal, "ycbcr": ycc, "sub": sub,
		"nrgba sub": nrgba.SubImage(image.Rect(2, 1, 5, 4)), "gray sub": gray.SubImage(image.Rect(1, 2, 3, 4))} {
		tol := 0
		if name == "ycbcr" {
			tol = 1
		}
		for _, c := range []int{1, 3} {
			got, want := pixels(img, c), slowPixels(img, c)
			if len(got) != len(want) {
				t.Fatalf("%s c=%d: %d values, want %d", name, c, len(got), len(want))
			}
			for i := range got {
				if d := int(got[i]) - int(want[i]); d > tol || d < -tol {
					t.Errorf("%s c=%d: value %d = %d, want %d", name, c, i, got[i], want[i])
					break
				}
			}
		}
	}
}

// slowPixels is the definition: each pixel through NRGBA, luma from the
// straight colour.
func slowPixels(img image.Image, c int) []uint8 {
	var out []uint8
	bd := img.Bounds()
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			n := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
			if c == 1 {
				g := color.GrayModel.Convert(color.RGBA{n.R, n.G, n.B, 255}).(color.Gray)
				out = append(out, g.Y)
			} else {
				out = append(out, n.R, n.G, n.B)
			}
		}
	}
	return out
}
