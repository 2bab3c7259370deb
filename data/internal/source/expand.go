package source

import (
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// fileInfo is one file a read covers, with its size.
type fileInfo struct {
	path string
	size int64
}

// expand lists the files that paths name: a file as itself, a directory
// walked recursively in lexical order (skipping hidden and "_" names, and
// for images the files that are not .png, .jpg or .jpeg), a glob as
// filepath.Glob's sorted matches (directories among them walked).
func expand(format Format, paths []string) ([]fileInfo, error) {
	if len(paths) == 0 {
		return nil, newErr(ErrNotFound, "", "no paths given")
	}
	var out []fileInfo
	for _, p := range paths {
		if p == "" {
			return nil, newErr(ErrNotFound, p, "empty path")
		}
		matches := []string{p}
		if strings.ContainsAny(p, "*?[") {
			m, err := filepath.Glob(p)
			if err != nil {
				return nil, wrapErr(ErrNotFound, p, err, "bad glob")
			}
			if len(m) == 0 {
				return nil, newErr(ErrNotFound, p, "the glob matches nothing")
			}
			matches = m
		}
		n := len(out)
		for _, m := range matches {
			fi, err := os.Stat(m)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) {
					return nil, wrapErr(ErrNotFound, m, err, "")
				}
				return nil, wrapErr(ErrNotFound, m, err, "cannot stat")
			}
			if !fi.IsDir() {
				out = append(out, fileInfo{m, fi.Size()})
				continue
			}
			err = filepath.WalkDir(m, func(q string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if q != m && skipName(d.Name()) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.IsDir() || !d.Type().IsRegular() && d.Type()&fs.ModeSymlink == 0 {
					return nil
				}
				if format == Images && !isImageName(q) {
					return nil
				}
				info, err := os.Stat(q) // follows a symlink
				if err != nil {
					return err
				}
				if !info.IsDir() {
					out = append(out, fileInfo{q, info.Size()})
				}
				return nil
			})
			if err != nil {
				return nil, wrapErr(ErrNotFound, m, err, "cannot walk the directory")
			}
		}
		if len(out) == n {
			return nil, newErr(ErrNotFound, p, "no %s files there", format)
		}
	}
	return out, nil
}

// skipName: Spark and Ray Data leave out hidden files and "_" files
// (_SUCCESS, _metadata) when they walk a dataset directory.
func skipName(name string) bool {
	return strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")
}

func isImageName(p string) bool {
	switch strings.ToLower(filepath.Ext(p)) {
	case ".png", ".jpg", ".jpeg":
		return true
	}
	return false
}

// hive parses the key=value directory names of p's directory, outermost
// first, the values URI-decoded. A name with an empty key is not a
// partition.
func hive(p string) []KV {
	var kvs []KV
	for _, seg := range strings.Split(filepath.ToSlash(filepath.Dir(p)), "/") {
		k, v, ok := strings.Cut(seg, "=")
		if !ok || k == "" {
			continue
		}
		// Hive and Spark escape special characters in directory names
		// (%20, %2F); pyarrow's HivePartitioning decodes them too.
		if u, err := url.PathUnescape(v); err == nil {
			v = u
		}
		kvs = append(kvs, KV{Key: k, Value: v})
	}
	return kvs
}

// partitions gives each file its hive partition, checks that every file
// has the same keys in the same order, and marks a key Int when all of its
// values parse as int64.
func partitions(files []fileInfo) ([][]KV, error) {
	parts := make([][]KV, len(files))
	for i, f := range files {
		parts[i] = hive(f.path)
		if i == 0 {
			continue
		}
		a, b := parts[0], parts[i]
		if len(a) != len(b) {
			return nil, &Error{Kind: ErrSchemaMismatch, Path: files[0].path, Other: f.path, FirstRow: -1, LastRow: -1,
				Detail: "the files have different hive partition keys: " + keysOf(a) + " and " + keysOf(b)}
		}
		for j := range a {
			if a[j].Key != b[j].Key {
				return nil, &Error{Kind: ErrSchemaMismatch, Path: files[0].path, Other: f.path, Column: a[j].Key,
					FirstRow: -1, LastRow: -1, Detail: "the files have different hive partition keys: " + keysOf(a) + " and " + keysOf(b)}
			}
		}
	}
	if len(files) == 0 {
		return parts, nil
	}
	for j := range parts[0] {
		isInt := true
		for _, kvs := range parts {
			if _, err := strconv.ParseInt(kvs[j].Value, 10, 64); err != nil {
				isInt = false
				break
			}
		}
		for _, kvs := range parts {
			kvs[j].Int = isInt
		}
	}
	return parts, nil
}

func keysOf(kvs []KV) string {
	ks := make([]string, len(kvs))
	for i, kv := range kvs {
		ks[i] = kv.Key
	}
	return "[" + strings.Join(ks, ", ") + "]"
}
