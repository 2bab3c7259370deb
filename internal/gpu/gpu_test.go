package gpu

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// Real nvidia-smi output (UUIDs shortened to look real).
const (
	h100x2 = `0, GPU-3b1f9a2c-7d4e-5f60-8a91-b2c3d4e5f607, NVIDIA H100 80GB HBM3, 81559
1, GPU-9c8b7a6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4, NVIDIA H100 80GB HBM3, 81559
`
	a100 = "0, GPU-11111111-2222-3333-4444-555555555555, NVIDIA A100-SXM4-40GB, 40960\n"
)

func TestParseQuery(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []Device
	}{
		{"h100 pair", h100x2, []Device{
			{0, "GPU-3b1f9a2c-7d4e-5f60-8a91-b2c3d4e5f607", "NVIDIA H100 80GB HBM3", 81559},
			{1, "GPU-9c8b7a6d-5e4f-3a2b-1c0d-e9f8a7b6c5d4", "NVIDIA H100 80GB HBM3", 81559},
		}},
		{"a100", a100, []Device{{0, "GPU-11111111-2222-3333-4444-555555555555", "NVIDIA A100-SXM4-40GB", 40960}}},
		{"blank lines, CRLF and padding",
			"\n  3 ,GPU-a ,  Tesla V100-SXM2-16GB  , 16384 \r\n\n\r\n7, GPU-b, NVIDIA GeForce RTX 4090, 24564\n",
			[]Device{{3, "GPU-a", "Tesla V100-SXM2-16GB", 16384}, {7, "GPU-b", "NVIDIA GeForce RTX 4090", 24564}}},
		{"memory N/A", "0, GPU-c, NVIDIA GH200 480GB, [N/A]\n", []Device{{0, "GPU-c", "NVIDIA GH200 480GB", 0}}},
		{"memory with unit", "0, GPU-d, Tesla T4, 15360 MiB\n", []Device{{0, "GPU-d", "Tesla T4", 15360}}},
		{"comma in name", "0, GPU-e, Weird, Name, 100\n", []Device{{0, "GPU-e", "Weird, Name", 100}}},
		{"empty", "", nil},
		{"only blanks", "\n \n\t\n", nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseQuery([]byte(c.in))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %+v\nwant %+v", got, c.want)
			}
		})
	}
}

func TestParseQueryMalformed(t *testing.T) {
	cases := []struct{ name, in, bad string }{
		{"too few fields", "0, GPU-a, 81559\n", "0, GPU-a, 81559"},
		{"bad index", "x, GPU-a, NVIDIA H100 80GB HBM3, 81559\n", "x, GPU-a"},
		{"negative index", "-1, GPU-a, NVIDIA H100 80GB HBM3, 81559\n", "-1, GPU-a"},
		{"bad memory", "0, GPU-a, NVIDIA H100 80GB HBM3, lots\n", "lots"},
		{"empty uuid", "0, , NVIDIA H100 80GB HBM3, 81559\n", "0, , NVIDIA"},
		{"empty name", "0, GPU-a, , 81559\n", "0, GPU-a, , 81559"},
		{"second line bad", h100x2 + "garbage\n", "garbage"},
		{"header line", "index, uuid, name, memory.total [MiB]\n" + a100, "index, uuid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseQuery([]byte(c.in))
			if err == nil {
				t.Fatalf("got %+v, want an error", got)
			}
			if !strings.Contains(err.Error(), c.bad) {
				t.Errorf("error %q does not name the line (%q)", err, c.bad)
			}
		})
	}
}

func TestAcceleratorType(t *testing.T) {
	cases := []struct{ name, want string }{
		{"NVIDIA H100 80GB HBM3", "H100"},
		{"NVIDIA H100 PCIe", "H100"},
		{"NVIDIA H100 NVL", "H100"},
		{"NVIDIA H200", "H200"},
		{"NVIDIA GH200 480GB", "GH200"},
		{"NVIDIA A100-SXM4-40GB", "A100"},
		{"NVIDIA A100-SXM4-80GB", "A100"},
		{"NVIDIA A100 80GB PCIe", "A100"},
		{"NVIDIA A10G", "A10G"},
		{"NVIDIA L4", "L4"},
		{"NVIDIA L40S", "L40S"},
		{"Tesla V100-SXM2-16GB", "V100"},
		{"Tesla P100-PCIE-16GB", "P100"},
		{"Tesla T4", "T4"},
		{"Tesla K80", "K80"},
		{"NVIDIA GeForce RTX 4090", "RTX4090"},
		{"NVIDIA GeForce RTX 3080 Ti", "RTX3080"},
		{"NVIDIA GeForce GTX 1080", "GTX1080"},
		{"GeForce GTX 1080 Ti", "GTX1080"},
		{"Quadro RTX 6000", "RTX6000"},
		{"NVIDIA RTX A6000", "RTXA6000"},
		{"NVIDIA TITAN V", "TITANV"},
		{"  nvidia   h100  80gb ", "H100"},
		{"NVIDIA", ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := AcceleratorType(c.name); got != c.want {
			t.Errorf("AcceleratorType(%q) = %q, want %q", c.name, got, c.want)
		}
	}
}

func TestCUDAVisibleDevices(t *testing.T) {
	cases := []struct {
		ids  []int
		want string
	}{
		{nil, ""},
		{[]int{}, ""},
		{[]int{0}, "0"},
		{[]int{0, 1}, "0,1"},
		{[]int{3, 1, 7}, "3,1,7"},
	}
	for _, c := range cases {
		if got := CUDAVisibleDevices(c.ids); got != c.want {
			t.Errorf("CUDAVisibleDevices(%v) = %q, want %q", c.ids, got, c.want)
		}
	}
}

// fakeSMI installs an executable shell script as nvidia-smi for the test.
func fakeSMI(t *testing.T, script string) (argsFile string) {
	t.Helper()
	dir := t.TempDir()
	argsFile = filepath.Join(dir, "args")
	path := filepath.Join(dir, "nvidia-smi")
	body := "#!/bin/sh\necho \"$@\" > '" + argsFile + "'\n" + script
	if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	old := nvidiaSMI
	nvidiaSMI = path
	t.Cleanup(func() { nvidiaSMI = old })
	return argsFile
}

func TestDetect(t *testing.T) {
	if _, err := os.Stat("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	ctx := context.Background()

	t.Run("not installed", func(t *testing.T) {
		old := nvidiaSMI
		nvidiaSMI = filepath.Join(t.TempDir(), "no-such-nvidia-smi")
		t.Cleanup(func() { nvidiaSMI = old })
		devs, err := Detect(ctx)
		if err != nil || len(devs) != 0 {
			t.Fatalf("got %v, %v; want no devices and no error", devs, err)
		}
	})

	t.Run("two H100s", func(t *testing.T) {
		argsFile := fakeSMI(t, "cat <<'X'\n"+h100x2+"X\n")
		devs, err := Detect(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(devs) != 2 || devs[1].Index != 1 || devs[1].Name != "NVIDIA H100 80GB HBM3" || devs[0].MemoryMiB != 81559 {
			t.Fatalf("got %+v", devs)
		}
		args, err := os.ReadFile(argsFile)
		if err != nil {
			t.Fatal(err)
		}
		want := "--query-gpu=index,uuid,name,memory.total --format=csv,noheader,nounits"
		if got := strings.TrimSpace(string(args)); got != want {
			t.Errorf("nvidia-smi ran with %q, want %q", got, want)
		}
	})

	t.Run("failure carries stderr", func(t *testing.T) {
		fakeSMI(t, "echo 'NVIDIA-SMI has failed because it could not communicate with the NVIDIA driver.' >&2\nexit 9\n")
		devs, err := Detect(ctx)
		if err == nil {
			t.Fatalf("got %+v, want an error", devs)
		}
		if !strings.Contains(err.Error(), "could not communicate with the NVIDIA driver") {
			t.Errorf("error %q lacks nvidia-smi's stderr", err)
		}
	})

	t.Run("no devices found", func(t *testing.T) {
		fakeSMI(t, "echo 'No devices were found'\nexit 6\n")
		devs, err := Detect(ctx)
		if err != nil || len(devs) != 0 {
			t.Fatalf("got %v, %v; want no devices and no error", devs, err)
		}
	})

	t.Run("malformed output", func(t *testing.T) {
		fakeSMI(t, "echo '0, GPU-a'\n")
		if devs, err := Detect(ctx); err == nil || !strings.Contains(err.Error(), "0, GPU-a") {
			t.Fatalf("got %v, %v; want an error naming the line", devs, err)
		}
	})

	t.Run("cancelled context", func(t *testing.T) {
		fakeSMI(t, "sleep 10\n")
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := Detect(cctx); err == nil {
			t.Fatal("want an error for a cancelled context")
		}
	})
}
