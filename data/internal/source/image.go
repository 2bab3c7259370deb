package source

import (
	"bytes"
	"context"
	"image"
	"image/color"
	_ "image/jpeg" // registers JPEG with image.Decode
	_ "image/png"  // registers PNG with image.Decode
	"os"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
	"github.com/apache/arrow-go/v18/arrow/memory"
	"golang.org/x/image/draw"
)

// maxPixels bounds a decoded image (as Pillow's decompression-bomb
// check does): a small file must not make the reader allocate gigabytes.
const maxPixels = 1 << 28

// channels is the channel count of an image mode.
func channels(mode string) int {
	if mode == "L" {
		return 1
	}
	return 3
}

// imageSchema is the schema of an image read: the pixels as a tensor
// column (fixed_size_list<uint8>[h*w*c], row-major h, w, c) and the
// tensor's shape beside it.
func imageSchema(h, w, c int) *arrow.Schema {
	return arrow.NewSchema([]arrow.Field{
		{Name: "image", Type: arrow.FixedSizeListOf(int32(h*w*c), arrow.PrimitiveTypes.Uint8)},
		{Name: "height", Type: arrow.PrimitiveTypes.Int32},
		{Name: "width", Type: arrow.PrimitiveTypes.Int32},
		{Name: "channels", Type: arrow.PrimitiveTypes.Int32},
	}, nil)
}

// readImage decodes one PNG or JPEG file into one row.
func readImage(ctx context.Context, u Unit, opts Options, emit func(arrow.RecordBatch) error) error {
	data, err := os.ReadFile(u.Path)
	if err != nil {
		return wrapErr(ErrNotFound, u.Path, err, "read")
	}
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return wrapErr(ErrCorrupt, u.Path, err, "not a PNG or JPEG image")
	}
	if int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return newErr(ErrUnsupported, u.Path, "a %s of %dx%d pixels is over the limit of %d", format, cfg.Width, cfg.Height, maxPixels)
	}
	img, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return wrapErr(ErrCorrupt, u.Path, err, "%s image", format)
	}
	if opts.Width > 0 && opts.Height > 0 {
		r := image.Rect(0, 0, opts.Width, opts.Height)
		var dst draw.Image = image.NewNRGBA(r) // keeps colour under alpha
		if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
			dst = image.NewRGBA(r) // the scaler's fast path
		}
		draw.CatmullRom.Scale(dst, r, img, img.Bounds(), draw.Src, nil)
		img = dst
	}
	c := channels(opts.Mode)
	pix := pixels(img, c)
	bd := img.Bounds()
	h, w := bd.Dy(), bd.Dx()
	sc := imageSchema(h, w, c)
	lb := array.NewFixedSizeListBuilder(memory.DefaultAllocator, int32(h*w*c), arrow.PrimitiveTypes.Uint8)
	defer lb.Release()
	lb.Append(true)
	lb.ValueBuilder().(*array.Uint8Builder).AppendValues(pix, nil)
	cols := []arrow.Array{lb.NewArray(), int32Array(h), int32Array(w), int32Array(c)}
	rec := array.NewRecordBatch(sc, cols, 1)
	for _, a := range cols {
		a.Release()
	}
	defer rec.Release()
	sh, err := newShaper(ctx, u, opts, sc)
	if err != nil {
		return err
	}
	if err := sh.push(rec, emit); err != nil {
		return err
	}
	return sh.finish(emit)
}

// pixels lays img out row-major with c channels: RGB (alpha dropped, as
// Pillow's convert("RGB") does) or L (ITU-R 601 luma, Go's
// color.GrayModel, as Pillow's convert("L")). Opaque images (every JPEG,
// most PNGs) go through image/draw's fast paths into RGBA; others pixel
// by pixel through NRGBA, so that dropping alpha keeps the colour.
func pixels(img image.Image, c int) []uint8 {
	bd := img.Bounds()
	w, h := bd.Dx(), bd.Dy()
	if g, ok := img.(*image.Gray); ok && c == 1 {
		out := make([]uint8, 0, w*h)
		for y := 0; y < h; y++ {
			row := g.Pix[y*g.Stride:]
			out = append(out, row[:w]...)
		}
		return out
	}
	var rgba []uint8 // w*h*4, straight (not premultiplied) alpha
	stride := 4 * w
	switch m := img.(type) {
	case *image.NRGBA:
		rgba, stride = m.Pix, m.Stride
	default:
		if o, ok := img.(interface{ Opaque() bool }); ok && o.Opaque() {
			dst := image.NewRGBA(image.Rect(0, 0, w, h))
			draw.Draw(dst, dst.Bounds(), img, bd.Min, draw.Src)
			rgba = dst.Pix // opaque: premultiplied equals straight
		} else {
			rgba = make([]uint8, 0, 4*w*h)
			for y := bd.Min.Y; y < bd.Max.Y; y++ {
				for x := bd.Min.X; x < bd.Max.X; x++ {
					n := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
					rgba = append(rgba, n.R, n.G, n.B, n.A)
				}
			}
		}
	}
	out := make([]uint8, 0, w*h*c)
	for y := 0; y < h; y++ {
		row := rgba[y*stride : y*stride+4*w]
		for x := 0; x < 4*w; x += 4 {
			r, g, b := row[x], row[x+1], row[x+2]
			if c == 3 {
				out = append(out, r, g, b)
				continue
			}
			out = append(out, luma(r, g, b))
		}
	}
	return out
}

// luma is color.GrayModel's formula on 8-bit channels (each widened to
// 16 bits as color.RGBA does).
func luma(r, g, b uint8) uint8 {
	r16, g16, b16 := uint32(r)*0x101, uint32(g)*0x101, uint32(b)*0x101
	return uint8((19595*r16 + 38470*g16 + 7471*b16 + 1<<15) >> 24)
}

func int32Array(v int) arrow.Array {
	b := array.NewInt32Builder(memory.DefaultAllocator)
	defer b.Release()
	b.Append(int32(v))
	return b.NewArray()
}
