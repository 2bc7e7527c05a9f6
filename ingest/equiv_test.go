package ingest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"
	"time"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// The kinds of generated columns.
const (
	genString = iota
	genInt
	genFloat
	genNumber // ints and floats mixed: DOUBLE
	genBool
	genJSON
	genKinds
)

// genRows makes random rows: a map per row, values string, int64, float64,
// bool, nil (null), or a JSON tree (map[string]any / []any) for genJSON.
func genRows(rng *rand.Rand) ([]map[string]any, []string) {
	pool := []string{"a", "b", "host", "region", "value", "status", "x_1", "_y", "Zed"}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	ncols := rng.IntN(len(pool) + 1)
	names := pool[:ncols]
	kinds := make([]int, ncols)
	for i := range kinds {
		kinds[i] = rng.IntN(genKinds)
	}
	withID, withTS := rng.IntN(2) == 0, rng.IntN(3) > 0
	nrows := 1 + rng.IntN(40)
	base := time.Date(2025, 12, 31, 0, 0, 0, 0, time.UTC).UnixMicro()
	rows := make([]map[string]any, nrows)
	for r := range rows {
		row := map[string]any{}
		if withID && rng.IntN(5) > 0 {
			if rng.IntN(6) == 0 {
				row["id"] = nil
			} else {
				row["id"] = fmt.Sprintf("dev-%d", rng.IntN(1000))
			}
		}
		if withTS && rng.IntN(4) > 0 {
			row["ts"] = genTimestamp(rng, base+rng.Int64N(3*microsPerDay))
		}
		for i, name := range names {
			switch rng.IntN(10) {
			case 0:
				continue // absent
			case 1:
				row[name] = nil
				continue
			}
			row[name] = genScalar(rng, kinds[i], 0)
		}
		rows[r] = row
	}
	return rows, names
}

func genTimestamp(rng *rand.Rand, us int64) string {
	tm := time.UnixMicro(us).UTC()
	switch rng.IntN(4) {
	case 0:
		return tm.Format("2006-01-02T15:04:05.999999Z07:00")
	case 1:
		return tm.In(time.FixedZone("", (rng.IntN(27)-12)*3600)).Format("2006-01-02T15:04:05.000000Z07:00")
	case 2:
		return tm.Format("2006-01-02 15:04:05.999999")
	}
	return tm.Format(time.RFC3339Nano)
}

var genAlphabet = []string{"a", "b", "Z", "0", " ", "é", "😀", "\"", "\\", "/", "<", "&", "\n", "\t", "\x01", "\u2028", "\u00ff", "\b", "\f"}

func genString_(rng *rand.Rand) string {
	var b strings.Builder
	for range rng.IntN(8) {
		b.WriteString(genAlphabet[rng.IntN(len(genAlphabet))])
	}
	return b.String()
}

func genInt_(rng *rand.Rand) int64 {
	switch rng.IntN(4) {
	case 0:
		return rng.Int64N(1<<54) - 1<<53 // within ±2^53, so Structs agree
	case 1:
		return rng.Int64N(2000) - 1000
	}
	return rng.Int64N(100)
}

func genFloat_(rng *rand.Rand) float64 {
	var f float64
	switch rng.IntN(3) {
	case 0:
		f = rng.NormFloat64() * 1e6
	case 1:
		f = rng.Float64() * 1e-9
	default:
		f = float64(rng.IntN(1000)) + 0.5
	}
	if f == float64(int64(f)) { // keep it non-integral: Structs would say BIGINT
		f += 0.25
	}
	return f
}

func genScalar(rng *rand.Rand, kind, depth int) any {
	switch kind {
	case genString:
		return genString_(rng)
	case genInt:
		return genInt_(rng)
	case genFloat:
		return genFloat_(rng)
	case genNumber:
		if rng.IntN(2) == 0 {
			return genInt_(rng)
		}
		return genFloat_(rng)
	case genBool:
		return rng.IntN(2) == 0
	}
	return genTree(rng, depth, true)
}

// genTree makes a JSON value; top: an object or array.
func genTree(rng *rand.Rand, depth int, top bool) any {
	k := rng.IntN(7)
	if top {
		k = rng.IntN(2)
	}
	if depth > 3 && k < 2 {
		k = 2
	}
	switch k {
	case 0:
		m := map[string]any{}
		for range rng.IntN(4) {
			m[genString_(rng)] = genTree(rng, depth+1, false)
		}
		return m
	case 1:
		var l []any
		for range rng.IntN(4) {
			l = append(l, genTree(rng, depth+1, false))
		}
		if l == nil {
			l = []any{}
		}
		return l
	case 2:
		return genString_(rng)
	case 3:
		return float64(genInt_(rng))
	case 4:
		return genFloat_(rng)
	case 5:
		return rng.IntN(2) == 0
	}
	return nil
}

// jsonText encodes a JSON tree as encoding/json does, without HTML
// escaping (keys sorted).
func jsonText(t testing.TB, v any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// encodeString writes s as a JSON string, escaping some characters at
// random to exercise the decoder.
func encodeString(rng *rand.Rand, s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case strings.ContainsRune("\b\f\n\r\t", r) && rng.IntN(2) == 0:
			b.WriteString(map[rune]string{'\b': `\b`, '\f': `\f`, '\n': `\n`, '\r': `\r`, '\t': `\t`}[r])
		case r < 0x20 || rng.IntN(4) == 0:
			if r > 0xFFFF {
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04X`, 0xD800+(r>>10), 0xDC00+(r&0x3FF))
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		case r == '/' && rng.IntN(2) == 0:
			b.WriteString(`\/`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// encodeRow writes a row as a JSON object, keys in random order, with
// random white space (newlines only when multiline).
func encodeRow(t testing.TB, rng *rand.Rand, row map[string]any, multiline bool) string {
	spaces := []string{"", " ", "\t"}
	if multiline {
		spaces = append(spaces, "\n", "\r\n ")
	}
	sp := func() string { return spaces[rng.IntN(len(spaces))] }
	keys := make([]string, 0, len(row))
	for k := range row {
		keys = append(keys, k)
	}
	rng.Shuffle(len(keys), func(i, j int) { keys[i], keys[j] = keys[j], keys[i] })
	var b strings.Builder
	b.WriteString("{" + sp())
	for i, k := range keys {
		if i > 0 {
			b.WriteString("," + sp())
		}
		b.WriteString(encodeString(rng, k) + sp() + ":" + sp())
		switch v := row[k].(type) {
		case nil:
			b.WriteString("null")
		case string:
			b.WriteString(encodeString(rng, v))
		case int64:
			b.WriteString(strconv.FormatInt(v, 10))
		case float64:
			format := []byte{'g', 'e', 'f'}[rng.IntN(3)]
			b.WriteString(strconv.FormatFloat(v, format, -1, 64))
		case bool:
			b.WriteString(strconv.FormatBool(v))
		default:
			text := jsonText(t, v)
			if multiline && rng.IntN(2) == 0 {
				var ind bytes.Buffer
				if err := json.Indent(&ind, []byte(text), "", "  "); err != nil {
					t.Fatal(err)
				}
				text = ind.String()
			}
			b.WriteString(text)
		}
		b.WriteString(sp())
	}
	b.WriteString("}")
	return b.String()
}

func toValue(t testing.TB, v any) *structpb.Value {
	switch x := v.(type) {
	case int64:
		return structpb.NewNumberValue(float64(x))
	}
	pv, err := structpb.NewValue(v)
	if err != nil {
		t.Fatal(err)
	}
	return pv
}

// encodings returns the rows in every input form.
func encodings(t testing.TB, rng *rand.Rand, rows []map[string]any) map[string]Input {
	var arr, nd strings.Builder
	arr.WriteString("[")
	structs := make([]*structpb.Struct, len(rows))
	records := make([]*miniodbv1.Record, len(rows))
	for i, row := range rows {
		if i > 0 {
			arr.WriteString(",\n")
		}
		arr.WriteString(encodeRow(t, rng, row, true))
		if rng.IntN(5) == 0 {
			nd.WriteString(" \r\n")
		}
		nd.WriteString(encodeRow(t, rng, row, false))
		nd.WriteString([]string{"\n", "\r\n"}[rng.IntN(2)])

		st := &structpb.Struct{Fields: map[string]*structpb.Value{}}
		rec := &miniodbv1.Record{Payload: &structpb.Struct{Fields: map[string]*structpb.Value{}}}
		for k, v := range row {
			st.Fields[k] = toValue(t, v)
			switch k {
			case "id":
				if v != nil {
					rec.Id = v.(string)
				}
			case "ts":
				rec.Timestamp = v.(string)
			default:
				rec.Payload.Fields[k] = toValue(t, v)
			}
		}
		structs[i], records[i] = st, rec
	}
	arr.WriteString("]")
	return map[string]Input{
		"array":   JSONArray([]byte(arr.String())),
		"ndjson":  NDJSON([]byte(nd.String())),
		"structs": Structs(structs),
		"records": Records(records),
	}
}

// sameResult compares two Results exactly.
func sameResult(a, b *Result) bool {
	return proto.Equal(&miniodbv1.InsertCommand{Batches: a.Batches}, &miniodbv1.InsertCommand{Batches: b.Batches}) &&
		proto.Equal(&miniodbv1.TableSpec{Columns: a.Columns}, &miniodbv1.TableSpec{Columns: b.Columns}) &&
		a.Rows == b.Rows && a.Bytes == b.Bytes
}

// TestFormsEquivalent: random rows parse to the same Result as a JSON
// array, NDJSON, Structs and Records, in a new table and again against the
// schema the first parse produced (which changes nothing).
func TestFormsEquivalent(t *testing.T) {
	rng := rand.New(rand.NewPCG(42, 7))
	parts := []miniodbv1.Partitioning{pDay, pHour, pMonth, pNone}
	for iter := range 500 {
		rows, _ := genRows(rng)
		ins := encodings(t, rng, rows)
		tbl := Table{Name: "t", Partitioning: parts[iter%len(parts)]}
		want, err := Parse(tbl, ins["array"], testNow, Options{})
		if err != nil {
			t.Fatalf("iter %d: array: %v\n%s", iter, err, ins["array"].data)
		}
		checkResult(t, tbl, want)
		for _, form := range []string{"ndjson", "structs", "records"} {
			got, err := Parse(tbl, ins[form], testNow, Options{})
			if err != nil {
				t.Fatalf("iter %d: %s: %v\n%s", iter, form, err, ins["array"].data)
			}
			if !sameResult(want, got) {
				t.Fatalf("iter %d: %s differs from array:\n%s\n%s\ninput %s", iter, form, render(want), render(got), ins["array"].data)
			}
		}
		again := tbl
		again.Columns = want.Columns
		for form, in := range ins {
			got, err := Parse(again, in, testNow, Options{})
			if err != nil {
				t.Fatalf("iter %d: %s against the merged schema: %v", iter, form, err)
			}
			checkResult(t, again, got)
			if !proto.Equal(&miniodbv1.InsertCommand{Batches: want.Batches}, &miniodbv1.InsertCommand{Batches: got.Batches}) ||
				schemaString(got.Columns) != schemaString(want.Columns) {
				t.Fatalf("iter %d: %s against the merged schema differs:\n%s\n%s", iter, form, render(want), render(got))
			}
		}
	}
}
