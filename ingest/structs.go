package ingest

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"google.golang.org/protobuf/types/known/structpb"
)

// This file reads the protobuf forms: Structs and Records. A Struct's keys
// have no order, so a row's fields are read in name order; nested values are
// written as canonical JSON (keys sorted, no white space, numbers as
// encoding/json formats a float64, strings escaped as encoding/json does
// without HTML escaping).

func (p *parser) parseStructs(rows []*structpb.Struct) error {
	if len(rows) == 0 {
		return &RowError{Msg: "empty input: no rows"}
	}
	p.reserve(len(rows))
	for r, st := range rows {
		if err := p.beginRow(r); err != nil {
			return err
		}
		if st == nil {
			return p.rowErr(r, "", "want a JSON object, got null")
		}
		if err := p.structRow(st.GetFields(), r, 0); err != nil {
			return err
		}
		p.endRow(r)
	}
	return nil
}

func (p *parser) parseRecords(recs []*miniodbv1.Record) error {
	if len(recs) == 0 {
		return &RowError{Msg: "empty input: no rows"}
	}
	p.reserve(len(recs))
	for r, rec := range recs {
		if err := p.beginRow(r); err != nil {
			return err
		}
		if rec == nil {
			return p.rowErr(r, "", "want a record, got null")
		}
		fields := rec.GetPayload().GetFields()
		for _, name := range p.sortedKeys(fields) {
			if strings.EqualFold(name, IDColumn) || strings.EqualFold(name, TimeColumn) {
				return p.rowErr(r, name, "a record's payload may not hold id or ts: they come from the record")
			}
		}
		k := 0
		for _, f := range [...]struct{ name, value string }{{IDColumn, rec.GetId()}, {TimeColumn, rec.GetTimestamp()}} {
			if f.value == "" {
				continue // no id: NULL; no timestamp: now
			}
			b, err := p.field(bytesOf(f.name), k, r)
			if err != nil {
				return err
			}
			k++
			if !utf8.ValidString(f.value) {
				return p.rowErr(r, f.name, "invalid UTF-8 in string")
			}
			v := scalar{k: kString, s: bytesOf(f.value)}
			if err := p.put(b, r, &v); err != nil {
				return err
			}
		}
		if err := p.structRow(fields, r, k); err != nil {
			return err
		}
		p.endRow(r)
	}
	return nil
}

// sortedKeys returns the keys of fields in order, in a reused slice.
func (p *parser) sortedKeys(fields map[string]*structpb.Value) []string {
	keys := p.keys[:0]
	for k := range fields {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	p.keys = keys
	return keys
}

// structRow reads the fields of one row; k0 is the position of the first.
func (p *parser) structRow(fields map[string]*structpb.Value, r, k0 int) error {
	for k, name := range p.sortedKeys(fields) {
		if !utf8.ValidString(name) {
			return p.rowErr(r, strings.ToValidUTF8(name, "\uFFFD"), "invalid UTF-8 in field name")
		}
		b, err := p.field(bytesOf(name), k0+k, r)
		if err != nil {
			return err
		}
		if err := p.structValue(b, fields[name], r); err != nil {
			return err
		}
	}
	return nil
}

// structValue stores one Struct value in column b for row r.
func (p *parser) structValue(b *colBuilder, v *structpb.Value, r int) error {
	var s scalar
	switch x := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return p.null(b, r)
	case *structpb.Value_NumberValue:
		f := x.NumberValue
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return p.rowErr(r, b.name, fmt.Sprintf("number %v is not valid JSON", f))
		}
		if f == math.Trunc(f) && math.Abs(f) <= 1<<53 {
			s = scalar{k: kInt, i: int64(f)}
		} else {
			s = scalar{k: kFloat, f: f}
		}
	case *structpb.Value_StringValue:
		if !utf8.ValidString(x.StringValue) {
			return p.rowErr(r, b.name, "invalid UTF-8 in string")
		}
		s = scalar{k: kString, s: bytesOf(x.StringValue)}
	case *structpb.Value_BoolValue:
		s = scalar{k: kBool, b: x.BoolValue}
	case *structpb.Value_StructValue, *structpb.Value_ListValue:
		k := kObject
		if _, ok := x.(*structpb.Value_ListValue); ok {
			k = kArray
		}
		if _, ok := p.accept(b, k); !ok {
			return p.mismatch(b, r, &scalar{k: k})
		}
		b.pad(r)
		start := len(b.sbuf)
		var err error
		if b.sbuf, err = p.appendValue(b.sbuf, v, 1); err != nil {
			return p.rowErr(r, b.name, err.Error())
		}
		if n := len(b.sbuf) - start; n > p.opts.MaxFieldBytes {
			return p.tooBig(b, r, n)
		}
		b.send = append(b.send, len(b.sbuf))
		b.n++
		b.nonNull = true
		return nil
	default:
		return p.rowErr(r, b.name, "value has no kind set")
	}
	return p.put(b, r, &s)
}

// encodeScalar returns the JSON text of a scalar of the Struct form, in a
// reused buffer.
func (p *parser) encodeScalar(v *scalar) ([]byte, error) {
	t := p.jsonText[:0]
	switch v.k {
	case kString:
		t = appendJSONString(t, v.s)
	case kInt:
		t = strconv.AppendInt(t, v.i, 10)
	case kFloat:
		t = appendJSONFloat(t, v.f)
	case kBool:
		t = strconv.AppendBool(t, v.b)
	default:
		return nil, fmt.Errorf("cannot encode %s", v.k)
	}
	p.jsonText = t
	return t, nil
}

// appendValue appends the canonical JSON text of v; depth is its nesting.
func (p *parser) appendValue(dst []byte, v *structpb.Value, depth int) ([]byte, error) {
	switch x := v.GetKind().(type) {
	case *structpb.Value_NullValue:
		return append(dst, "null"...), nil
	case *structpb.Value_NumberValue:
		f := x.NumberValue
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return dst, fmt.Errorf("number %v is not valid JSON", f)
		}
		return appendJSONFloat(dst, f), nil
	case *structpb.Value_StringValue:
		if !utf8.ValidString(x.StringValue) {
			return dst, fmt.Errorf("invalid UTF-8 in string")
		}
		return appendJSONString(dst, bytesOf(x.StringValue)), nil
	case *structpb.Value_BoolValue:
		return strconv.AppendBool(dst, x.BoolValue), nil
	case *structpb.Value_StructValue:
		if depth > p.opts.MaxDepth {
			return dst, fmt.Errorf("JSON value nested deeper than %d", p.opts.MaxDepth)
		}
		fields := x.StructValue.GetFields()
		keys := make([]string, 0, len(fields))
		for k := range fields {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			if !utf8.ValidString(k) {
				return dst, fmt.Errorf("invalid UTF-8 in key")
			}
			dst = appendJSONString(dst, bytesOf(k))
			dst = append(dst, ':')
			var err error
			if dst, err = p.appendValue(dst, fields[k], depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, '}'), nil
	case *structpb.Value_ListValue:
		if depth > p.opts.MaxDepth {
			return dst, fmt.Errorf("JSON value nested deeper than %d", p.opts.MaxDepth)
		}
		dst = append(dst, '[')
		for i, e := range x.ListValue.GetValues() {
			if i > 0 {
				dst = append(dst, ',')
			}
			var err error
			if dst, err = p.appendValue(dst, e, depth+1); err != nil {
				return dst, err
			}
		}
		return append(dst, ']'), nil
	}
	return dst, fmt.Errorf("value has no kind set")
}

// appendJSONFloat formats f as encoding/json does.
func appendJSONFloat(dst []byte, f float64) []byte {
	abs := math.Abs(f)
	fmtc := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		fmtc = 'e'
	}
	dst = strconv.AppendFloat(dst, f, fmtc, -1, 64)
	if fmtc == 'e' {
		// clean up e-09 to e-9
		n := len(dst)
		if n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendJSONString quotes valid UTF-8 s as encoding/json does without HTML
// escaping: \" \\ \b \f \n \r \t, \u00XX for other control characters, and
// \u2028 \u2029.
func appendJSONString(dst []byte, s []byte) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hex[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// bytesOf views a string as bytes without copying; the bytes must not be
// written.
func bytesOf(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
