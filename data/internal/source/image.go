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
		dst := image.NewRGBA(image.Rect(0, 0, opts.Width, opts.Height))
		draw.CatmullRom.Scale(dst, dst.Bounds(), img, img.Bounds(), draw.Src, nil)
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
// Pillow's convert("RGB") does) or L (ITU-R 601 luma, as convert("L")).
func pixels(img image.Image, c int) []uint8 {
	bd := img.Bounds()
	out := make([]uint8, 0, bd.Dx()*bd.Dy()*c)
	for y := bd.Min.Y; y < bd.Max.Y; y++ {
		for x := bd.Min.X; x < bd.Max.X; x++ {
			px := img.At(x, y)
			if c == 1 {
				out = append(out, color.GrayModel.Convert(px).(color.Gray).Y)
				continue
			}
			n := color.NRGBAModel.Convert(px).(color.NRGBA)
			out = append(out, n.R, n.G, n.B)
		}
	}
	return out
}

func int32Array(v int) arrow.Array {
	b := array.NewInt32Builder(memory.DefaultAllocator)
	defer b.Release()
	b.Append(int32(v))
	return b.NewArray()
}
