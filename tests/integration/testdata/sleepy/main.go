// Command sleepy is a driver for the "driver killed" integration test: it
// starts an embedded cluster, submits two tasks that sleep a minute (each
// announces itself by creating <dir>/started-<pid>), prints "submitted"
// and blocks until it is killed.
//
//	sleepy <marker-dir> <rayo-temp-dir>
package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/rayo-dev/rayo"
)

var nap = rayo.Register[int]("sleepy.nap", func(dir string, i int) (int, error) {
	name := filepath.Join(dir, fmt.Sprintf("started-%d", os.Getpid()))
	if err := os.WriteFile(name, nil, 0o644); err != nil {
		return 0, err
	}
	time.Sleep(time.Minute)
	return i, nil
})

func main() {
	ctx := context.Background()
	// Workers run this binary too: there, Init serves tasks and never
	// returns, so the arguments below are read by the driver only.
	if len(os.Args) != 3 && !rayo.IsWorker() {
		log.Fatal("usage: sleepy <marker-dir> <rayo-temp-dir>")
	}
	var tempDir string
	if len(os.Args) == 3 {
		tempDir = os.Args[2]
	}
	if err := rayo.Init(ctx, rayo.WithNumCPUs(2), rayo.WithTempDir(tempDir), rayo.WithLogToDriver(false)); err != nil {
		log.Fatal(err)
	}
	dir := os.Args[1]
	refs := []rayo.ObjectRef[int]{nap.Remote(dir, 1), nap.Remote(dir, 2)}
	fmt.Println("submitted", len(refs))
	for {
		time.Sleep(time.Hour)
	}
}
