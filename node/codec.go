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
	return protojson.UnmarshalOptions{DiscardUnknown: true}.Unmarshal(data, msg)
}

func unmarshalWriteRequest(data []byte, w *v1.WriteRequest) error {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(data, &top); err != nil {
		return fmt.Errorf("request body is not a JSON object: %w", err)
	}
	rows, hasRows := top["rows"]
	delete(top, "rows")
	rest, err := json.Marshal(top)
	if err != nil {
		return err
	}
	if err := (protojson.UnmarshalOptions{DiscardUnknown: true}).Unmarshal(rest, w); err != nil {
		return err
	}
	if hasRows {
		trimmed := bytes.TrimSpace(rows)
		if !bytes.Equal(trimmed, []byte("null")) {
			if len(trimmed) == 0 || trimmed[0] != '[' {
				return fmt.Errorf(`"rows" must be a JSON array of objects`)
			}
			w.RowsJson = trimmed
		}
	}
	return nil
}
