package tune

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// packCheckpoint turns c into its wire form: a directory becomes a tar
// stream of its regular files (symbolic links and other special files are
// skipped: a checkpoint is data).
func packCheckpoint(c *Checkpoint, iteration int) (*ckptWire, error) {
	if !c.IsDir() {
		return &ckptWire{Data: c.data, Iteration: iteration}, nil
	}
	var buf bytes.Buffer
	if err := tarDir(&buf, c.dir); err != nil {
		return nil, fmt.Errorf("%w: packing checkpoint directory %s: %v", ErrStorage, c.dir, err)
	}
	return &ckptWire{Dir: true, Data: buf.Bytes(), Iteration: iteration}, nil
}

func tarDir(w io.Writer, dir string) error {
	tw := tar.NewWriter(w)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
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
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
	if err != nil {
		return err
	}
	return tw.Close()
}

// untar writes a tar stream made by tarDir under dir, refusing names that
// would escape it.
func untar(data []byte, dir string) error {
	tr := tar.NewReader(bytes.NewReader(data))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.FromSlash(strings.TrimSuffix(h.Name, "/"))
		if name == "" || filepath.IsAbs(name) || !filepath.IsLocal(name) {
			return fmt.Errorf("unsafe name %q in checkpoint", h.Name)
		}
		path := filepath.Join(dir, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(path, 0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		}
	}
}

// open makes a Checkpoint a trainable can read from w: a directory is
// unpacked into a private temporary directory, removed when the trial
// stops.
func (w *ckptWire) open() (*Checkpoint, error) {
	if w.Path != "" {
		return storedCheckpoint(w.Path, w.Iteration, w.Dir), nil
	}
	if !w.Dir {
		return &Checkpoint{data: w.Data, Iteration: w.Iteration}, nil
	}
	dir, err := os.MkdirTemp("", "rayo-tune-ckpt-")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrStorage, err)
	}
	if err := untar(w.Data, dir); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: unpacking a checkpoint: %v", ErrStorage, err)
	}
	return &Checkpoint{dir: dir, Iteration: w.Iteration, local: true}, nil
}

// ckptFile is a bytes checkpoint's file in its checkpoint directory on
// storage.
const ckptFile = "checkpoint.bin"

// writeTo stores w as the directory path on storage (written under a
// temporary name, then renamed, so a crash never leaves half a
// checkpoint under the real name).
func (w *ckptWire) writeTo(path string) error {
	tmp := path + ".tmp"
	_ = os.RemoveAll(tmp)
	if err := os.MkdirAll(tmp, 0o700); err != nil {
		return err
	}
	var err error
	if w.Dir {
		err = untar(w.Data, tmp)
	} else {
		err = os.WriteFile(filepath.Join(tmp, ckptFile), w.Data, 0o600)
	}
	if err == nil {
		_ = os.RemoveAll(path)
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.RemoveAll(tmp)
		return fmt.Errorf("%w: writing checkpoint %s: %v", ErrStorage, path, err)
	}
	return nil
}

// readCkpt loads a checkpoint directory written by writeTo: the
// directory itself, or its checkpoint.bin for a bytes checkpoint.
func readCkpt(path string, iteration int, dir bool) (*ckptWire, error) {
	if !dir {
		b, err := os.ReadFile(filepath.Join(path, ckptFile))
		if err != nil {
			return nil, fmt.Errorf("%w: reading checkpoint %s: %v", ErrStorage, path, err)
		}
		return &ckptWire{Data: b, Iteration: iteration}, nil
	}
	var buf bytes.Buffer
	if err := tarDir(&buf, path); err != nil {
		return nil, fmt.Errorf("%w: reading checkpoint %s: %v", ErrStorage, path, err)
	}
	return &ckptWire{Dir: true, Data: buf.Bytes(), Iteration: iteration}, nil
}

// storedCheckpoint is the Checkpoint for a checkpoint directory on
// storage: the directory, or the bytes of its checkpoint.bin.
func storedCheckpoint(path string, iteration int, dir bool) *Checkpoint {
	if !dir {
		b, _ := os.ReadFile(filepath.Join(path, ckptFile))
		return &Checkpoint{data: b, Iteration: iteration, stored: path}
	}
	return &Checkpoint{dir: path, Iteration: iteration, stored: path}
}
