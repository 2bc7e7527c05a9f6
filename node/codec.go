package node

import (
	"bytes"
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

// jsonCodec is Connect's JSON codec with one change: a WriteRequest's
// "rows" array is kept as raw JSON (in rows_json) instead of being decoded
// into google.protobuf.Struct, whose numbers are doubles. So 1 stays an
// integer, 1.5 a double, and 2^63-1 exact.
type jsonCodec struct{ name string }

func (c jsonCodec) Name() string { return c.name }

func (c jsonCodec) Marshal(m any) ([]byte, error) {
	msg, ok := m.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("node: json codec: %T is not a proto message", m)
	}
	return protojson.MarshalOptions{}.Marshal(msg)
}

func (c jsonCodec) Unmarshal(data []byte, m any) error {
	msg, ok := m.(proto.Message)
	if !ok {
		return fmt.Errorf("node: json codec: %T is not a proto message", m)
	}
	if w, ok := m.(*v1.WriteRequest); ok {
		return unmarshalWriteRequest(data, w)
	}
	if w, ok := m.(*v1.WriteStreamRequest); ok {
		return unmarshalWriteStreamRequest(data, w)
	}
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, msg)
}

// unmarshalWriteStreamRequest decodes a stream message whose batch keeps
// its rows exact, as a WriteRequest's do.
func unmarshalWriteStreamRequest(data []byte, w *v1.WriteStreamRequest) error {
	batch, rest, err := cutField(data, "batch")
	if err != nil {
		return err
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rest, w); err != nil {
		return err
	}
	if batch != nil && string(batch) != "null" {
		w.Batch = &v1.WriteRequest{}
		if err := unmarshalWriteRequest(batch, w.Batch); err != nil {
			return fmt.Errorf("batch: %w", err)
		}
	}
	return nil
}

// unmarshalWriteRequest decodes a WriteRequest without decoding its rows:
// they are parsed (and validated) once, by package ingest. The other
// fields go through protojson as usual.
func unmarshalWriteRequest(data []byte, w *v1.WriteRequest) error {
	rows, rest, err := cutField(data, "rows")
	if err != nil {
		return err
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rest, w); err != nil {
		return err
	}
	if rows != nil && string(rows) != "null" {
		if rows[0] != '[' {
			return fmt.Errorf(`"rows" must be a JSON array of objects`)
		}
		// Connect reuses data's buffer after Unmarshal returns: copy.
		w.RowsJson = bytes.Clone(rows)
	}
	return nil
}

// cutField returns the raw value of a JSON object's member name (nil if
// absent) and the object's text without it. A repeated name is refused:
// protojson refuses one, and keeping only the last would silently drop
// what the first held.
func cutField(data []byte, name string) (value, rest []byte, err error) {
	fields, err := splitObject(data)
	if err != nil {
		return nil, nil, fmt.Errorf("request body: %w", err)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for _, f := range fields {
		var key string
		if err := json.Unmarshal(f.key, &key); err != nil {
			return nil, nil, fmt.Errorf("request body: field name %s: %w", f.key, err)
		}
		if key == name {
			if value != nil {
				return nil, nil, fmt.Errorf("request body: duplicate field %q", name)
			}
			value = f.value
			continue
		}
		if b.Len() > 1 {
			b.WriteByte(',')
		}
		b.Write(f.key)
		b.WriteByte(':')
		b.Write(f.value)
	}
	b.WriteByte('}')
	return value, b.Bytes(), nil
}

type jsonField struct{ key, value []byte }

// splitObject returns the raw key and value texts of a JSON object's
// members. It checks the structure (strings, nesting), not the values'
// grammar; callers parse the values.
func splitObject(data []byte) ([]jsonField, error) {
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '{' {
		return nil, fmt.Errorf("want a JSON object")
	}
	i = skipSpace(data, i+1)
	var fields []jsonField
	if i < len(data) && data[i] == '}' {
		if skipSpace(data, i+1) != len(data) {
			return nil, fmt.Errorf("trailing data after the JSON object")
		}
		return nil, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return nil, fmt.Errorf("want a field name at byte %d", i)
		}
		end, err := skipString(data, i)
		if err != nil {
			return nil, err
		}
		key := data[i:end]
		if bytes.IndexByte(key, '\\') >= 0 {
			var k string
			if err := json.Unmarshal(key, &k); err != nil {
				return nil, fmt.Errorf("bad field name at byte %d: %w", i, err)
			}
			key, _ = json.Marshal(k)
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return nil, fmt.Errorf("want ':' at byte %d", i)
		}
		i = skipSpace(data, i+1)
		start := i
		if i, err = skipValue(data, i); err != nil {
			return nil, err
		}
		fields = append(fields, jsonField{key: key, value: data[start:i]})
		i = skipSpace(data, i)
		if i >= len(data) {
			return nil, fmt.Errorf("unexpected end of the JSON object")
		}
		switch data[i] {
		case ',':
			i = skipSpace(data, i+1)
		case '}':
			if skipSpace(data, i+1) != len(data) {
				return nil, fmt.Errorf("trailing data after the JSON object")
			}
			return fields, nil
		default:
			return nil, fmt.Errorf("want ',' or '}' at byte %d", i)
		}
	}
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at data[i] == '"'.
func skipString(data []byte, i int) (int, error) {
	for j := i + 1; j < len(data); j++ {
		switch data[j] {
		case '\\':
			j++
		case '"':
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at byte %d", i)
}

// skipValue returns the index after the JSON value starting at data[i].
// Mismatched bracket kinds are left for the value's parser to report.
func skipValue(data []byte, i int) (int, error) {
	if i >= len(data) {
		return 0, fmt.Errorf("want a value at byte %d", i)
	}
	switch data[i] {
	case '"':
		return skipString(data, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(data); j++ {
			switch data[j] {
			case '"':
				end, err := skipString(data, j)
				if err != nil {
					return 0, err
				}
				j = end - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1, nil
				}
			}
		}
		return 0, fmt.Errorf("unterminated value at byte %d", i)
	}
	j := i
	for j < len(data) && !bytes.ContainsRune([]byte(",}] \t\r\n"), rune(data[j])) {
		j++
	}
	if j == i {
		return 0, fmt.Errorf("want a value at byte %d", i)
	}
	return j, nil
}
