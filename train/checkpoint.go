package train

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Checkpoint is a directory of files a worker saved (Ray's Checkpoint):
// made with CheckpointFromDir and given to Report, or found in a Result
// and given back by GetCheckpoint after a restart.
type Checkpoint struct {
	path string
}

// CheckpointFromDir makes a checkpoint of the directory at path (Ray's
// Checkpoint.from_directory). Report takes its content before it
// returns; the directory may be removed after.
func CheckpointFromDir(path string) *Checkpoint { return &Checkpoint{path: path} }

// Path is the checkpoint's directory.
func (c *Checkpoint) Path() string { return c.path }

func (c *Checkpoint) String() string { return "Checkpoint(" + c.path + ")" }

// packDir makes a tar of dir's regular files and directories. Links and
// devices are refused: a checkpoint must mean the same on another node.
func packDir(dir string) ([]byte, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("%s is not a directory", dir)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil || rel == "." {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: filepath.ToSlash(rel) + "/", Mode: 0o700})
		case info.Mode().IsRegular():
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: filepath.ToSlash(rel), Mode: 0o600, Size: info.Size()}); err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			n, err := io.Copy(tw, f)
			if err == nil && n != info.Size() {
				err = fmt.Errorf("%s changed size while being read", path)
			}
			return err
		default:
			return fmt.Errorf("%s is neither a regular file nor a directory (links are not followed)", path)
		}
	})
	if err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// unpackInto writes a packDir tar into dir (which exists), files 0600 and
// directories 0700, every file synced; a name that would leave dir is
// refused.
func unpackInto(dir string, tarball []byte) error {
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(strings.TrimSuffix(h.Name, "/"))
		if !filepath.IsLocal(name) {
			return fmt.Errorf("checkpoint entry %q leaves its directory", h.Name)
		}
		target := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			if err := writeFileSync(target, tr); err != nil {
				return err
			}
		default:
			return fmt.Errorf("checkpoint entry %q is of type %q", h.Name, h.Typeflag)
		}
	}
}

func writeFileSync(path string, r io.Reader) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// copyDir copies src's regular files and directories into dst (shared
// storage), file by file, each synced; links are refused as packDir
// refuses them.
func copyDir(dst, src string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		target := filepath.Join(dst, rel)
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o700)
		case d.Type().IsRegular():
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			return writeFileSync(target, f)
		default:
			return fmt.Errorf("%s is neither a regular file nor a directory (links are not followed)", path)
		}
	})
}
