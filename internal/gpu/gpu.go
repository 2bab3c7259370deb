package gpu

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// Device is one GPU as nvidia-smi reports it.
type Device struct {
	Index     int    // nvidia-smi's index: the ID CUDA_VISIBLE_DEVICES uses
	UUID      string // e.g. "GPU-3b1f9a2c-..."
	Name      string // the model, e.g. "NVIDIA H100 80GB HBM3"
	MemoryMiB int64  // total memory in MiB; 0 where nvidia-smi reports [N/A]
}

// nvidiaSMI is the command Detect runs; tests point it at a fake.
var nvidiaSMI = "nvidia-smi"

// queryArgs are the arguments Detect passes to nvidia-smi.
var queryArgs = []string{"--query-gpu=index,uuid,name,memory.total", "--format=csv,noheader,nounits"}

// Detect lists this machine's NVIDIA GPUs by running
//
//	nvidia-smi --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits
//
// Without nvidia-smi on the PATH it returns an empty list and no error, and
// likewise when nvidia-smi says "No devices were found" (a driver with no
// GPU visible, as in a container started without one). Any other failure of
// nvidia-smi is an error that carries its stderr; output that does not
// parse is an error naming the line.
func Detect(ctx context.Context) ([]Device, error) {
	path, err := exec.LookPath(nvidiaSMI)
	if err != nil {
		return nil, nil
	}
	cmd := exec.CommandContext(ctx, path, queryArgs...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, fmt.Errorf("gpu: %s: %w", nvidiaSMI, ctxErr)
		}
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = strings.TrimSpace(stdout.String())
		}
		var exitErr *exec.ExitError
		if errors.As(err, &exitErr) && strings.Contains(msg, "No devices were found") {
			return nil, nil
		}
		if msg == "" {
			return nil, fmt.Errorf("gpu: %s failed: %w", nvidiaSMI, err)
		}
		return nil, fmt.Errorf("gpu: %s failed: %w: %s", nvidiaSMI, err, msg)
	}
	return ParseQuery(stdout.Bytes())
}

// ParseQuery parses the output of nvidia-smi's
// --query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits:
// one GPU a line, "index, uuid, name, memory". Spaces around fields are
// trimmed and blank lines skipped; a name with commas in it is kept whole.
// A memory of "[N/A]" (or similar bracketed value) reads as 0. Any other
// line that does not parse is an error that quotes it.
func ParseQuery(out []byte) ([]Device, error) {
	var devs []Device
	for i, raw := range strings.Split(string(out), "\n") {
		line := strings.TrimSpace(raw)
		if line == "" {
			continue
		}
		d, err := parseLine(line)
		if err != nil {
			return nil, fmt.Errorf("gpu: nvidia-smi output line %d %q: %w", i+1, line, err)
		}
		devs = append(devs, d)
	}
	return devs, nil
}

func parseLine(line string) (Device, error) {
	f := strings.Split(line, ",")
	if len(f) < 4 {
		return Device{}, fmt.Errorf("want 4 comma-separated fields (index, uuid, name, memory), got %d", len(f))
	}
	name := strings.TrimSpace(strings.Join(f[2:len(f)-1], ","))
	for i := range f {
		f[i] = strings.TrimSpace(f[i])
	}
	idx, err := strconv.Atoi(f[0])
	if err != nil || idx < 0 {
		return Device{}, fmt.Errorf("index %q is not a non-negative integer", f[0])
	}
	uuid := f[1]
	if uuid == "" {
		return Device{}, errors.New("empty uuid")
	}
	if name == "" {
		return Device{}, errors.New("empty name")
	}
	memField := f[len(f)-1]
	var mem int64
	if strings.HasPrefix(memField, "[") && strings.HasSuffix(memField, "]") {
		mem = 0 // [N/A], [Not Supported]
	} else {
		// Without nounits nvidia-smi appends " MiB"; accept it too.
		mem, err = strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(memField, "MiB")), 10, 64)
		if err != nil || mem < 0 {
			return Device{}, fmt.Errorf("memory %q is not a number of MiB", memField)
		}
	}
	return Device{Index: idx, UUID: uuid, Name: name, MemoryMiB: mem}, nil
}

// brandWords are the words AcceleratorType drops from the front of a name.
var brandWords = map[string]bool{"NVIDIA": true, "TESLA": true, "GEFORCE": true, "QUADRO": true}

// seriesWords are product lines whose model number is the next word.
var seriesWords = map[string]bool{"RTX": true, "GTX": true, "TITAN": true}

// AcceleratorType returns the accelerator_type label Ray gives a GPU
// model, for a name as nvidia-smi prints it. The rule:
//
//  1. split the name into words at spaces;
//  2. drop leading brand words: NVIDIA, Tesla, GeForce, Quadro (any case);
//  3. the label is the next word up to its first '-' ("A100-SXM4-40GB" →
//     "A100"); where that word is a product line (RTX, GTX, TITAN) the
//     following word is appended to it ("RTX 4090" → "RTX4090");
//  4. only ASCII letters and digits are kept, letters upper-cased.
//
// So "NVIDIA H100 80GB HBM3" → "H100", "NVIDIA A100-SXM4-40GB" → "A100",
// "Tesla V100-SXM2-16GB" → "V100", "NVIDIA GeForce RTX 4090" → "RTX4090",
// "Tesla T4" → "T4", "NVIDIA A10G" → "A10G". A name with nothing left
// after the brand words gives "".
func AcceleratorType(name string) string {
	words := strings.Fields(name)
	for len(words) > 0 && brandWords[strings.ToUpper(words[0])] {
		words = words[1:]
	}
	if len(words) == 0 {
		return ""
	}
	model := firstPart(words[0])
	if seriesWords[strings.ToUpper(model)] && len(words) > 1 {
		model += firstPart(words[1])
	}
	return clean(model)
}

// firstPart returns w up to its first '-'.
func firstPart(w string) string {
	before, _, _ := strings.Cut(w, "-")
	return before
}

// clean keeps ASCII letters and digits, upper-casing letters.
func clean(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		}
	}
	return b.String()
}

// CUDAVisibleDevices formats GPU IDs for the CUDA_VISIBLE_DEVICES
// variable: CUDAVisibleDevices([]int{0, 1}) == "0,1". No IDs give "".
func CUDAVisibleDevices(ids []int) string {
	parts := make([]string, len(ids))
	for i, id := range ids {
		parts[i] = strconv.Itoa(id)
	}
	return strings.Join(parts, ",")
}
