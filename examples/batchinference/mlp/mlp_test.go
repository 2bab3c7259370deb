package mlp_test

import (
	"bytes"
	"errors"
	"flag"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/rayo-dev/rayo/examples/batchinference/mlp"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// writeModel regenerates the shipped model:
// go test ./examples/batchinference/mlp -run TestTrainDigits -write-model
var writeModel = flag.Bool("write-model", false, "save the trained model as model.bin")

const shipped = "model.bin"

func TestTrainDigits(t *testing.T) {
	m, err := mlp.New(mlp.Image*mlp.Image, 128, 10, 1)
	if err != nil {
		t.Fatal(err)
	}
	test, testLabels := mlp.Digits(2000, 2)
	before, err := m.Accuracy(test, testLabels)
	if err != nil {
		t.Fatal(err)
	}
	x, labels := mlp.Digits(6000, 1)
	loss, err := m.Train(x, labels, 8, 0.05, 1)
	if err != nil {
		t.Fatal(err)
	}
	acc, err := m.Accuracy(test, testLabels)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("accuracy %.3f untrained, %.3f trained (last epoch's loss %.4f)", before, acc, loss)
	if acc <= 0.9 {
		t.Fatalf("accuracy %.3f on held-out digits, want > 0.9", acc)
	}
	if *writeModel {
		if err := m.Save(shipped); err != nil {
			t.Fatal(err)
		}
	}
}

func TestShippedModel(t *testing.T) {
	m, err := mlp.Load(shipped)
	if err != nil {
		t.Fatal(err)
	}
	if m.In != 64 || m.Out != 10 {
		t.Fatalf("shipped model is %d→%d→%d, want 64→…→10", m.In, m.Hidden, m.Out)
	}
	x, labels := mlp.Digits(2000, 3)
	acc, err := m.Accuracy(x, labels)
	if err != nil {
		t.Fatal(err)
	}
	if acc <= 0.9 {
		t.Fatalf("shipped model's accuracy %.3f, want > 0.9", acc)
	}
}

// naive is Predict written as plain loops, the reference for the BLAS
// calls' shapes and transposes.
func naive(m *mlp.Model, x []float32, rows int) []float32 {
	out := make([]float32, rows*m.Out)
	h := make([]float64, m.Hidden)
	for r := range rows {
		for j := range m.Hidden {
			s := float64(m.B1[j])
			for i := range m.In {
				s += float64(x[r*m.In+i]) * float64(m.W1[i*m.Hidden+j])
			}
			h[j] = math.Max(s, 0)
		}
		z := make([]float64, m.Out)
		var sum float64
		for k := range m.Out {
			s := float64(m.B2[k])
			for j := range m.Hidden {
				s += h[j] * float64(m.W2[j*m.Out+k])
			}
			z[k] = s
		}
		hi := z[0]
		for _, v := range z {
			hi = math.Max(hi, v)
		}
		for k := range z {
			z[k] = math.Exp(z[k] - hi)
			sum += z[k]
		}
		for k := range z {
			out[r*m.Out+k] = float32(z[k] / sum)
		}
	}
	return out
}

func TestPredictMatchesLoops(t *testing.T) {
	m, err := mlp.New(5, 7, 3, 9)
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.B1 {
		m.B1[i] = float32(i) * 0.1
	}
	m.B2[1] = 0.5
	x, _ := mlp.Digits(1, 4) // any values
	x = append(x, x...)[:5*11]
	got, err := m.Predict(x, 11)
	if err != nil {
		t.Fatal(err)
	}
	want := naive(m, x, 11)
	for i := range want {
		if math.Abs(float64(got[i]-want[i])) > 1e-5 {
			t.Fatalf("prob %d: %v, want %v", i, got[i], want[i])
		}
	}
	if p, err := m.Predict(nil, 0); err != nil || len(p) != 0 {
		t.Errorf("Predict(0 rows) = %v, %v", p, err)
	}
}

func TestRoundTrip(t *testing.T) {
	m, err := mlp.New(4, 6, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	m.B2[2] = 1.5
	p := filepath.Join(t.TempDir(), "m.bin")
	if err := m.Save(p); err != nil {
		t.Fatal(err)
	}
	back, err := mlp.Load(p)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := m.MarshalBinary()
	b, _ := back.MarshalBinary()
	if !bytes.Equal(a, b) || back.Hidden != 6 || back.B2[2] != 1.5 {
		t.Fatal("a saved model loads back different")
	}
}

func TestBadFiles(t *testing.T) {
	m, err := mlp.New(4, 6, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	good, err := m.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(good)
	flipped[30] ^= 1
	huge := bytes.Clone(good)
	huge[8], huge[9], huge[10], huge[11] = 0xff, 0xff, 0xff, 0x7f
	for _, c := range []struct {
		name string
		data []byte
		want error
	}{
		{"empty", nil, mlp.ErrFormat},
		{"other magic", append([]byte("PAR1xxxx"), good[8:]...), mlp.ErrFormat},
		{"header only", good[:12], mlp.ErrCorrupt},
		{"truncated", good[:len(good)-5], mlp.ErrCorrupt},
		{"trailing", append(bytes.Clone(good), 0), mlp.ErrCorrupt},
		{"flipped bit", flipped, mlp.ErrCorrupt},
		{"huge dimension", huge, mlp.ErrCorrupt},
	} {
		p := filepath.Join(t.TempDir(), "m.bin")
		if err := os.WriteFile(p, c.data, 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := mlp.Load(p)
		var fe *mlp.FileError
		if !errors.Is(err, c.want) || !errors.As(err, &fe) || fe.Path != p {
			t.Errorf("%s: Load = %v, want %v in a FileError naming the file", c.name, err, c.want)
		}
	}
	if _, err := mlp.Load(filepath.Join(t.TempDir(), "none")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load(missing) = %v, want fs.ErrNotExist", err)
	}
	bad := *m
	bad.W2 = bad.W2[1:]
	if err := bad.Save(filepath.Join(t.TempDir(), "x")); !errors.Is(err, mlp.ErrShape) {
		t.Errorf("Save(inconsistent model) = %v, want ErrShape", err)
	}
	if err := m.Save(filepath.Join(t.TempDir(), "no", "dir", "x")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Save(missing dir) = %v, want fs.ErrNotExist", err)
	}
}

func TestBadShapes(t *testing.T) {
	if _, err := mlp.New(0, 4, 2, 1); !errors.Is(err, mlp.ErrShape) {
		t.Errorf("New(0 inputs) = %v, want ErrShape", err)
	}
	if _, err := mlp.New(4, 1<<20, 2, 1); !errors.Is(err, mlp.ErrShape) {
		t.Errorf("New(huge hidden) = %v, want ErrShape", err)
	}
	m, err := mlp.New(4, 6, 3, 2)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		n, rows int
	}{{7, 2}, {8, 3}, {4, -1}} {
		if _, err := m.Predict(make([]float32, c.n), c.rows); !errors.Is(err, mlp.ErrShape) {
			t.Errorf("Predict(%d values, %d rows) = %v, want ErrShape", c.n, c.rows, err)
		}
	}
	x := make([]float32, 8)
	for _, c := range []struct {
		x      []float32
		labels []int
		epochs int
		lr     float32
		want   error
	}{
		{x, []int{0, 3}, 1, 0.1, mlp.ErrShape},
		{x, []int{0, -1}, 1, 0.1, mlp.ErrShape},
		{x[:7], []int{0, 1}, 1, 0.1, mlp.ErrShape},
		{nil, nil, 1, 0.1, mlp.ErrShape},
		{x, []int{0, 1}, 0, 0.1, mlp.ErrBadParam},
		{x, []int{0, 1}, 1, 0, mlp.ErrBadParam},
		{x, []int{0, 1}, 1, float32(math.NaN()), mlp.ErrBadParam},
	} {
		if _, err := m.Train(c.x, c.labels, c.epochs, c.lr, 1); !errors.Is(err, c.want) {
			t.Errorf("Train(%d values, labels %v, %d epochs, lr %v) = %v, want %v", len(c.x), c.labels, c.epochs, c.lr, err, c.want)
		}
	}
}

// BenchmarkPredict256 is the model alone on a batch of 256 images: the
// plain-loop figure beside which row 5's actor pool is read.
func BenchmarkPredict256(b *testing.B) {
	m, err := mlp.Load(shipped)
	if err != nil {
		b.Fatal(err)
	}
	x, _ := mlp.Digits(256, 5)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Predict(x, 256); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)*256/b.Elapsed().Seconds(), "images/s")
}
