package train_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/rayo-dev/rayo/collective"
	"github.com/rayo-dev/rayo/train"
)

// recoverLoop checkpoints "ckpt_bytes" of state every step (rank 0); on
// the first attempt rank 1 notes the time in "marks"/killed and kills its
// own process at step 3; on a restart rank 0 notes the time in
// "marks"/resumed once it has its checkpoint's files.
var recoverLoop = train.RegisterLoop("train_test.recover", func(ctx context.Context, cfg train.Config) error {
	tc, err := train.GetContext(ctx)
	if err != nil {
		return err
	}
	marks := cfg.String("marks")
	if ck, err := train.GetCheckpoint(ctx); err != nil {
		return err
	} else if ck != nil && tc.WorldRank == 0 {
		if _, err := os.ReadFile(filepath.Join(ck.Path(), "state")); err != nil {
			return err
		}
		if err := stamp(filepath.Join(marks, "resumed")); err != nil {
			return err
		}
	}
	comm, err := train.JoinCollective(ctx)
	if err != nil {
		return err
	}
	state := make([]byte, cfg.Int("ckpt_bytes"))
	for step := range 6 {
		if tc.Attempt == 0 && tc.WorldRank == 1 && step == 3 {
			if err := stamp(filepath.Join(marks, "killed")); err != nil {
				return err
			}
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		if err := collective.AllReduce(ctx, comm, []float32{1}, collective.Sum); err != nil {
			return err
		}
		var ck *train.Checkpoint
		if tc.WorldRank == 0 {
			dir, err := os.MkdirTemp("", "ck-")
			if err != nil {
				return err
			}
			defer os.RemoveAll(dir)
			if err := os.WriteFile(filepath.Join(dir, "state"), state, 0o600); err != nil {
				return err
			}
			ck = train.CheckpointFromDir(dir)
		}
		if err := train.Report(ctx, map[string]any{"step": step}, ck); err != nil {
			return err
		}
	}
	return nil
})

func stamp(path string) error {
	return os.WriteFile(path, []byte(strconv.FormatInt(time.Now().UnixNano(), 10)), 0o600)
}

func readStamp(b *testing.B, path string) time.Time {
	raw, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	ns, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		b.Fatal(err)
	}
	return time.Unix(0, ns)
}

// BenchmarkRecovery measures the time from a worker's death (SIGKILL of
// rank 1 of 2) to training resumed from the latest checkpoint (rank 0
// has its files again): detection, tearing the group down, placing and
// starting a new one, and loading the checkpoint.
func BenchmarkRecovery(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 20} {
		b.Run("checkpoint="+strconv.Itoa(size>>10)+"KiB", func(b *testing.B) {
			var total time.Duration
			for b.Loop() {
				marks := b.TempDir()
				tr := &train.DataParallelTrainer{Loop: recoverLoop, LoopConfig: train.Config{"marks": marks, "ckpt_bytes": size},
					Scaling: train.ScalingConfig{NumWorkers: 2},
					Run: train.RunConfig{Name: "r", StoragePath: b.TempDir(), Failure: train.FailureConfig{MaxFailures: 1},
						Checkpoint: train.CheckpointConfig{NumToKeep: 1}}}
				res, err := tr.Fit(context.Background())
				if err != nil || res.Failures != 1 {
					b.Fatalf("fit: %v (failures %d)", err, res.Failures)
				}
				total += readStamp(b, filepath.Join(marks, "resumed")).Sub(readStamp(b, filepath.Join(marks, "killed")))
			}
			b.ReportMetric(total.Seconds()/float64(b.N), "s/recovery")
		})
	}
}

// BenchmarkTorchOverhead runs the same DDP script (2 ranks, gloo) under
// TorchTrainer and as two processes launched by hand with torchrun's
// environment, alternately in the same run: wall time of each, the
// overhead, and start-up (launch to the script's first line) apart.
// Under TorchTrainer the script also reports every step and checkpoints
// every 100 steps.
func BenchmarkTorchOverhead(b *testing.B) {
	needTorch(b)
	args := []string{"--steps", "400", "--hidden", "2048", "--batch", "1024", "--rows", "8192", "--ckpt-every", "100", "--lr", "0.002"}
	var hand, rayo, handStart, rayoStart, handRun, rayoRun, ratio []float64
	i := 0
	for b.Loop() {
		dir := b.TempDir()
		runHand := func() {
			out := filepath.Join(dir, "ref")
			t0 := time.Now()
			handLaunch(b, out, args...)
			hand = append(hand, time.Since(t0).Seconds())
			handStart = append(handStart, firstLine(b, out)-float64(t0.UnixNano())/1e9)
			handRun = append(handRun, scriptTime(b, out))
		}
		runRayo := func() {
			out := filepath.Join(dir, "rayo")
			tr := torchTrainer(b, out, args...)
			t0 := time.Now()
			if _, err := tr.Fit(context.Background()); err != nil {
				b.Fatal(err)
			}
			rayo = append(rayo, time.Since(t0).Seconds())
			rayoStart = append(rayoStart, firstLine(b, out)-float64(t0.UnixNano())/1e9)
			rayoRun = append(rayoRun, scriptTime(b, out))
		}
		// Alternate which goes first, so that neither always runs on a
		// warmer (or busier) machine.
		if i%2 == 0 {
			runHand()
			runRayo()
		} else {
			runRayo()
			runHand()
		}
		i++
		ratio = append(ratio, rayo[len(rayo)-1]/hand[len(hand)-1])
	}
	b.ReportMetric(100*(median(ratio)-1), "pair-overhead-%")
	b.ReportMetric(median(handRun), "hand-script-s")
	b.ReportMetric(median(rayoRun), "rayo-script-s")
	h, r := median(hand), median(rayo)
	b.ReportMetric(h, "hand-s")
	b.ReportMetric(r, "rayo-s")
	b.ReportMetric(100*(r-h)/h, "overhead-%")
	b.ReportMetric(median(handStart), "hand-startup-s")
	b.ReportMetric(median(rayoStart), "rayo-startup-s")
}

// firstLine is when the first rank's script began (unix seconds).
func firstLine(b *testing.B, out string) float64 {
	return min(readOut(b, out, 0).T0, readOut(b, out, 1).T0)
}

// scriptTime is from the first rank's first line to the last one's end.
func scriptTime(b *testing.B, out string) float64 {
	return max(readOut(b, out, 0).T1, readOut(b, out, 1).T1) - firstLine(b, out)
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}
