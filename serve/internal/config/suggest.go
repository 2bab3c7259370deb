package config

import (
	"strings"

	"go.yaml.in/yaml/v3"
)

// renamed maps names from older Ray Serve releases, and rayo spellings
// people may guess, to the field to use instead.
var renamed = map[string]string{
	"actor_options":                           "ray_actor_options",
	"max_concurrent_queries":                  "max_ongoing_requests",
	"target_num_ongoing_requests_per_replica": "target_ongoing_requests",
	"app_name":                                "name",
	"num_cpu":                                 "num_cpus",
	"num_gpu":                                 "num_gpus",
}

// unknown reports a field the schema lacks, suggesting the closest known one.
func (d *decoder) unknown(p pair, path string, known []string) {
	at := field(path, p.key)
	if to, ok := renamed[p.key]; ok && contains(known, to) {
		d.fail(p.k, at, "unknown field; did you mean %s?", to)
		return
	}
	if s := closest(p.key, known); s != "" {
		d.fail(p.k, at, "unknown field; did you mean %s?", s)
		return
	}
	d.fail(p.k, at, "unknown field (known fields: %s)", strings.Join(known, ", "))
}

// unsupported checks a Ray Serve field rayo does not implement: an empty
// value (null, "", false, {} or []) is accepted as meaning nothing;
// anything else is refused with why.
func (d *decoder) unsupported(p pair, path, why string) {
	n := resolve(p.v)
	if isEmpty(n) {
		return
	}
	d.fail(p.k, field(path, p.key), "not supported by rayo serve: %s", why)
}

func isEmpty(n *yaml.Node) bool {
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		return len(n.Content) == 0
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return true
		case "!!str":
			return n.Value == ""
		case "!!bool":
			return n.Value == "false" || n.Value == "False" || n.Value == "FALSE"
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// closest returns the known name nearest to s by edit distance, if near
// enough to be a typo (or s is a prefix of exactly one name).
func closest(s string, known []string) string {
	best, bestD := "", 0
	for _, k := range known {
		dist := editDistance(strings.ToLower(s), k)
		if best == "" || dist < bestD {
			best, bestD = k, dist
		}
	}
	limit := 2
	if len(s) > 10 {
		limit = 3
	}
	if best != "" && bestD <= limit {
		return best
	}
	var pre []string
	for _, k := range known {
		if len(s) >= 3 && (strings.HasPrefix(k, s) || strings.HasPrefix(s, k)) {
			pre = append(pre, k)
		}
	}
	if len(pre) == 1 {
		return pre[0]
	}
	return ""
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
