package source

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"

	"github.com/apache/arrow-go/v18/arrow"
	"github.com/apache/arrow-go/v18/arrow/array"
)

// readJSON infers a schema from the first lines of a JSON lines file,
// then reads it with arrow-go's JSON reader (keys outside the schema
// skipped, absent keys null).
func readJSON(ctx context.Context, u Unit, opts Options, emit func(arrow.RecordBatch) error) error {
	f, err := openStream(u.Path)
	if err != nil {
		return err
	}
	full, err := inferJSON(u.Path, f)
	f.Close()
	if err != nil {
		return err
	}
	names := make([]string, full.NumFields())
	fields := full.Fields()
	for i, fl := range fields {
		names[i] = fl.Name
		if t := typeNamed(opts.Types[fl.Name]); t != nil {
			fields[i].Type = t
		}
	}
	full = arrow.NewSchema(fields, nil)
	if err := collision(u, opts, names); err != nil {
		return err
	}
	need, err := wanted(u.Path, names, u, opts)
	if err != nil {
		return err
	}
	sc := full
	if need != nil {
		var fs []arrow.Field
		for _, fl := range full.Fields() {
			for _, n := range need {
				if fl.Name == n {
					fs = append(fs, fl)
				}
			}
		}
		sc = arrow.NewSchema(fs, nil)
	}
	// The second pass: the file again from its start.
	if f, err = openStream(u.Path); err != nil {
		return err
	}
	defer f.Close()
	sh, err := newShaper(ctx, u, opts, sc)
	if err != nil {
		return err
	}
	chunk := -1
	if opts.TargetRows > 0 {
		chunk = opts.TargetRows
	}
	r := array.NewJSONReader(f, sc, array.WithChunk(chunk))
	defer r.Release()
	var done int64
	for r.Next() {
		rec := r.RecordBatch()
		if err := r.Err(); err != nil {
			return jsonCorrupt(u.Path, err, done+rec.NumRows())
		}
		done += rec.NumRows()
		if err := sh.push(rec, emit); err != nil {
			return err
		}
	}
	if err := r.Err(); err != nil {
		return jsonCorrupt(u.Path, err, done)
	}
	return sh.finish(emit)
}

// jsonCorrupt is ErrCorrupt for the row after the first n good ones
// (counting objects, which are lines in a JSON lines file).
func jsonCorrupt(path string, err error, n int64) error {
	e := wrapErr(ErrCorrupt, path, err, "")
	e.FirstRow = n
	return e
}

// inferJSON types the first inferRows objects of a JSON lines file. A key
// keeps the place of its first appearance.
func inferJSON(path string, r io.Reader) (*arrow.Schema, error) {
	br := bufio.NewReaderSize(r, 1<<16)
	var top *jtype
	row := int64(0)
	for row < inferRows {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(line))
			dec.UseNumber()
			t, perr := parseJSON(dec)
			if perr == nil && t.k != jStruct {
				perr = fmt.Errorf("a line is not a JSON object")
			}
			if perr == nil {
				if _, extra := dec.Token(); !errors.Is(extra, io.EOF) {
					perr = fmt.Errorf("more than one value on a line")
				}
			}
			if perr != nil {
				e := wrapErr(ErrCorrupt, path, perr, "")
				e.FirstRow = row
				return nil, e
			}
			if top == nil {
				top = t
			} else if top, perr = merge(top, t, ""); perr != nil {
				e := wrapErr(ErrUnsupported, path, perr, "")
				e.FirstRow = row
				return nil, e
			}
			row++
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, readErr(path, err)
		}
	}
	if top == nil {
		return arrow.NewSchema(nil, nil), nil
	}
	fs := make([]arrow.Field, len(top.fields))
	for i, f := range top.fields {
		fs[i] = arrow.Field{Name: f.name, Type: f.t.arrow(), Nullable: true}
	}
	return arrow.NewSchema(fs, nil), nil
}

type jkind int

const (
	jNull jkind = iota
	jInt
	jFloat
	jBool
	jString
	jList
	jStruct
)

var jnames = [...]string{"null", "int64", "float64", "bool", "string", "list", "object"}

// jtype is an inferred JSON type: a list's element, an object's fields in
// order.
type jtype struct {
	k      jkind
	elem   *jtype
	fields []jfield
}

type jfield struct {
	name string
	t    *jtype
}

// parseJSON reads one value from dec and gives its type.
func parseJSON(dec *json.Decoder) (*jtype, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &jtype{k: jNull}, nil
	case bool:
		return &jtype{k: jBool}, nil
	case string:
		return &jtype{k: jString}, nil
	case json.Number:
		if _, err := strconv.ParseInt(string(t), 10, 64); err == nil {
			return &jtype{k: jInt}, nil
		}
		return &jtype{k: jFloat}, nil
	case json.Delim:
		switch t {
		case '[':
			l := &jtype{k: jList, elem: &jtype{k: jNull}}
			for dec.More() {
				e, err := parseJSON(dec)
				if err != nil {
					return nil, err
				}
				if l.elem, err = merge(l.elem, e, "[]"); err != nil {
					return nil, err
				}
			}
			_, err := dec.Token()
			return l, err
		case '{':
			s := &jtype{k: jStruct}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				v, err := parseJSON(dec)
				if err != nil {
					return nil, err
				}
				if s, err = merge(s, &jtype{k: jStruct, fields: []jfield{{key, v}}}, ""); err != nil {
					return nil, err
				}
			}
			_, err := dec.Token()
			return s, err
		}
	}
	return nil, fmt.Errorf("unexpected JSON token %v", tok)
}

// merge unifies two inferred types: null gives way to anything, int to
// float, lists merge their elements and objects their fields; any other
// pair is a conflict, named by the field path at.
func merge(a, b *jtype, at string) (*jtype, error) {
	switch {
	case a.k == jNull:
		return b, nil
	case b.k == jNull:
		return a, nil
	case a.k == jInt && b.k == jFloat, a.k == jFloat && b.k == jInt:
		return &jtype{k: jFloat}, nil
	case a.k != b.k:
		return nil, fmt.Errorf("field %q holds both %s and %s", at, jnames[a.k], jnames[b.k])
	case a.k == jList:
		e, err := merge(a.elem, b.elem, at+"[]")
		return &jtype{k: jList, elem: e}, err
	case a.k == jStruct:
		out := &jtype{k: jStruct, fields: append([]jfield(nil), a.fields...)}
	next:
		for _, bf := range b.fields {
			for i, af := range out.fields {
				if af.name == bf.name {
					m, err := merge(af.t, bf.t, join(at, bf.name))
					if err != nil {
						return nil, err
					}
					out.fields[i].t = m
					continue next
				}
			}
			out.fields = append(out.fields, bf)
		}
		return out, nil
	}
	return a, nil
}

func join(at, name string) string {
	if at == "" {
		return name
	}
	return at + "." + name
}

// arrow is the Arrow type of an inferred type; a column that is null in
// every sampled line is a string.
func (t *jtype) arrow() arrow.DataType {
	switch t.k {
	case jInt:
		return arrow.PrimitiveTypes.Int64
	case jFloat:
		return arrow.PrimitiveTypes.Float64
	case jBool:
		return arrow.FixedWidthTypes.Boolean
	case jList:
		return arrow.ListOf(t.elem.arrow())
	case jStruct:
		fs := make([]arrow.Field, len(t.fields))
		for i, f := range t.fields {
			fs[i] = arrow.Field{Name: f.name, Type: f.t.arrow(), Nullable: true}
		}
		return arrow.StructOf(fs...)
	}
	return arrow.BinaryTypes.String
}
