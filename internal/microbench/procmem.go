package microbench

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// readSmapsRollup reads the kB fields of /proc/<pid>/smaps_rollup (Rss,
// Pss, Pss_Anon, Shared_Clean, Private_Dirty...): the process's memory
// summed over its mappings, with PSS, which RSS lacks, splitting each
// shared page among the processes that map it.
func readSmapsRollup(pid int) (map[string]int, error) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/smaps_rollup")
	if err != nil {
		return nil, fmt.Errorf("microbench: memory of process %d: %w", pid, err)
	}
	defer f.Close()
	m := map[string]int{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fields := strings.Fields(v)
		if len(fields) != 2 || fields[1] != "kB" {
			continue // the header line: the address range
		}
		if n, err := strconv.Atoi(fields[0]); err == nil {
			m[k] = n
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("microbench: memory of process %d: %w", pid, err)
	}
	return m, nil
}
