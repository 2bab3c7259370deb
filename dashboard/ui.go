package dashboard

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"time"
)

// The web UI: a single-page app in plain HTML, CSS and JavaScript
// modules, embedded in the binary. It reads the same /api endpoints as
// the CLI; nothing is fetched from outside the head.

//go:embed ui
var uiFiles embed.FS

// uiAsset is one embedded file with its content hash (the ETag).
type uiAsset struct {
	body  []byte
	ctype string
	etag  string
}

// uiAssets reads the embedded files once.
func uiAssets() map[string]uiAsset {
	assets := map[string]uiAsset{}
	_ = fs.WalkDir(uiFiles, "ui", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := uiFiles.ReadFile(p)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		ctype := mime.TypeByExtension(path.Ext(p))
		if ctype == "" {
			ctype = http.DetectContentType(b)
		}
		assets["/"+p] = uiAsset{body: b, ctype: ctype, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
		return nil
	})
	return assets
}

func (s *Server) uiRoutes() {
	assets := uiAssets()
	serve := func(w http.ResponseWriter, r *http.Request, name string) {
		a, ok := assets[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.ctype)
		h.Set("ETag", a.etag)
		// The scripts and styles (the same in every binary, no data):
		// revalidated every time (cheap: the ETag answers 304), so that a
		// new head's UI is picked up at once. The page itself keeps the
		// guard's no-store, as every authenticated page does. The
		// Content-Security-Policy and the other headers come from the
		// guard (guard.go).
		if name != "/ui/index.html" {
			h.Set("Cache-Control", "no-cache")
		}
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	}
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { serve(w, r, "/ui/index.html") })
	s.mux.HandleFunc("GET /ui/", func(w http.ResponseWriter, r *http.Request) { serve(w, r, r.URL.Path) })
}
