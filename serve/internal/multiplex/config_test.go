package multiplex_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/rayo-dev/rayo/serve/internal/multiplex"
)

func TestNewConfig(t *testing.T) {
	load := func(context.Context, string) (int, error) { return 1, nil }
	tests := []struct {
		name      string
		load      func(context.Context, string) (int, error)
		max       int
		wantErr   string // substring; "" means no error
		wantAfter int    // Len after loading 5 models one by one
	}{
		{name: "default", load: load, max: 0, wantAfter: multiplex.DefaultMaxModels},
		{name: "one", load: load, max: 1, wantAfter: 1},
		{name: "no limit", load: load, max: multiplex.NoLimit, wantAfter: 5},
		{name: "negative", load: load, max: -2, wantErr: "MaxModels is -2"},
		{name: "nil load", load: nil, wantErr: "load function is nil"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := multiplex.New(tt.load, multiplex.Config[int]{MaxModels: tt.max})
			if tt.wantErr != "" {
				if !errors.Is(err, multiplex.ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("New: got %v, want ErrInvalidConfig mentioning %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close(context.Background())
			for _, id := range ids(5) {
				if _, err := c.Get(context.Background(), id); err != nil {
					t.Fatal(err)
				}
			}
			if got := c.Len(); got != tt.wantAfter {
				t.Errorf("Len = %d, want %d", got, tt.wantAfter)
			}
		})
	}
}

func TestValidateModelID(t *testing.T) {
	tests := []struct {
		id      string
		wantErr string
	}{
		{id: "model_1"},
		{id: "org/model:v2"},
		{id: "a b"},
		{id: "modèle-ü"},
		{id: strings.Repeat("x", multiplex.MaxModelIDLen)},
		{id: "", wantErr: "empty"},
		{id: strings.Repeat("x", multiplex.MaxModelIDLen+1), wantErr: "257 bytes"},
		{id: " a", wantErr: "leading or trailing space"},
		{id: "a ", wantErr: "leading or trailing space"},
		{id: "a\nb", wantErr: "control character at byte 1"},
		{id: "a\x7f", wantErr: "control character"},
		{id: "a\xffb", wantErr: "not valid UTF-8 at byte 1"},
		{id: "a\u00a0b", wantErr: "non-printable character U+00A0"},
		{id: "a\u200bb", wantErr: "non-printable character U+200B"},
	}
	for _, tt := range tests {
		err := multiplex.ValidateModelID(tt.id)
		if tt.wantErr == "" {
			if err != nil {
				t.Errorf("ValidateModelID(%q) = %v, want nil", tt.id, err)
			}
			continue
		}
		if !errors.Is(err, multiplex.ErrInvalidModelID) || !strings.Contains(err.Error(), tt.wantErr) {
			t.Errorf("ValidateModelID(%q) = %v, want ErrInvalidModelID mentioning %q", tt.id, err, tt.wantErr)
		}
	}
}

func TestGetInvalidIDDoesNotLoad(t *testing.T) {
	h := newHarness(t, 2)
	for _, id := range []string{"", "a\x00"} {
		if _, err := h.c.Get(context.Background(), id); !errors.Is(err, multiplex.ErrInvalidModelID) {
			t.Errorf("Get(%q) = %v, want ErrInvalidModelID", id, err)
		}
		if _, _, err := h.c.Acquire(context.Background(), id); !errors.Is(err, multiplex.ErrInvalidModelID) {
			t.Errorf("Acquire(%q) = %v, want ErrInvalidModelID", id, err)
		}
	}
	if got := h.logCopy(); len(got) != 0 {
		t.Errorf("loader called: %v", got)
	}
}

func TestEventKindString(t *testing.T) {
	for k, want := range map[multiplex.EventKind]string{
		multiplex.EventHit: "hit", multiplex.EventMiss: "miss", multiplex.EventLoad: "load",
		multiplex.EventLoadError: "load_error", multiplex.EventEvict: "evict",
		multiplex.EventOverflow: "overflow", 0: "EventKind(0)", 99: "EventKind(99)",
	} {
		if got := k.String(); got != want {
			t.Errorf("EventKind(%d).String() = %q, want %q", k, got, want)
		}
	}
}
