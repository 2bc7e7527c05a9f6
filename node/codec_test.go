package node

import (
	"strings"
	"testing"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

func TestUnmarshalWriteRequest(t *testing.T) {
	tests := []struct {
		name, body string
		table      string
		rows       string
		reqID      string
		err        string
	}{
		{"plain", `{"table":"t","rows":[{"a":1}]}`, "t", `[{"a":1}]`, "", ""},
		{"spaces and order", " {\n \"rows\" : [ {\"a\":\"}]\"} ] ,\"requestId\":\"r1\", \"table\":\"t\" } ", "t", `[ {"a":"}]"} ]`, "r1", ""},
		{"proto names", `{"table":"t","request_id":"x","rows":[]}`, "t", `[]`, "x", ""},
		{"escaped key", `{"tab\u006ce":"t","rows":[{}]}`, "t", `[{}]`, "", ""},
		{"nested brackets in strings", `{"rows":[{"s":"[{\"x\"}"}],"table":"t"}`, "t", `[{"s":"[{\"x\"}"}]`, "", ""},
		{"null rows", `{"table":"t","rows":null}`, "t", "", "", ""},
		{"rows not array", `{"table":"t","rows":{"a":1}}`, "", "", "", "must be a JSON array"},
		{"not an object", `[1]`, "", "", "", "want a JSON object"},
		{"unterminated", `{"table":"t","rows":[{"a":1}`, "", "", "", "unterminated"},
		{"trailing", `{"table":"t"} x`, "", "", "", "trailing"},
		{"bad field value", `{"table":5}`, "", "", "", "table"},
		{"empty", ``, "", "", "", "want a JSON object"},
		{"empty object", `{}`, "", "", "", ""},
		// Review finding: a repeated "rows" kept only the last array.
		{"duplicate rows", `{"table":"t","rows":[{"a":1}],"rows":[{"a":2}]}`, "", "", "", `duplicate field "rows"`},
		{"duplicate rows, escaped", `{"table":"t","rows":[{"a":1}],"r\u006fws":[{"a":2}]}`, "", "", "", `duplicate field "rows"`},
		{"escaped rows key", `{"table":"t","r\u006fws":[{"a":2}]}`, "t", `[{"a":2}]`, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var w v1.WriteRequest
			err := jsonCodec{name: "json"}.Unmarshal([]byte(tt.body), &w)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want error with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Table != tt.table || string(w.RowsJson) != tt.rows || w.RequestId != tt.reqID {
				t.Fatalf("got table %q rows %q id %q", w.Table, w.RowsJson, w.RequestId)
			}
		})
	}
}
