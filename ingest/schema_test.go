package ingest

import (
	"errors"
	"fmt"
	"testing"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
	"google.golang.org/protobuf/proto"
)

func TestMergeColumns(t *testing.T) {
	wide := make([]string, 0, 41)
	wide = append(wide, "ts TIMESTAMP")
	for i := range 40 {
		wide = append(wide, fmt.Sprintf("c%d BIGINT", i))
	}
	wideOut := append(append([]string{}, wide...), "new VARCHAR")
	wideOut[40] = "c39 DOUBLE"

	for _, tc := range []struct {
		name     string
		table    []string
		batch    []string
		explicit bool
		want     []string // nil: error
		wantErr  string
	}{
		{name: "new table", batch: []string{"ts TIMESTAMP", "a BIGINT"}, want: []string{"ts TIMESTAMP", "a BIGINT"}},
		{name: "same", table: []string{"ts TIMESTAMP", "a BIGINT"}, batch: []string{"a BIGINT"}, want: []string{"ts TIMESTAMP", "a BIGINT"}},
		{name: "subset", table: []string{"ts TIMESTAMP", "a BIGINT", "b JSON"}, batch: []string{"ts TIMESTAMP"}, want: []string{"ts TIMESTAMP", "a BIGINT", "b JSON"}},
		{name: "empty batch", table: []string{"ts TIMESTAMP"}, want: []string{"ts TIMESTAMP"}},
		{name: "append in batch order", table: []string{"ts TIMESTAMP"}, batch: []string{"z BOOLEAN", "a VARCHAR"}, want: []string{"ts TIMESTAMP", "z BOOLEAN", "a VARCHAR"}},
		{name: "widen", table: []string{"ts TIMESTAMP", "a BIGINT"}, batch: []string{"a DOUBLE"}, want: []string{"ts TIMESTAMP", "a DOUBLE"}},
		{name: "bigint into double", table: []string{"ts TIMESTAMP", "a DOUBLE"}, batch: []string{"a BIGINT"}, want: []string{"ts TIMESTAMP", "a DOUBLE"}},
		{name: "explicit same", table: []string{"ts TIMESTAMP", "a DOUBLE"}, batch: []string{"a BIGINT", "ts TIMESTAMP"}, explicit: true, want: []string{"ts TIMESTAMP", "a DOUBLE"}},
		{name: "explicit widen", table: []string{"a BIGINT"}, batch: []string{"a DOUBLE"}, explicit: true,
			wantErr: `column "a": table has BIGINT, batch has DOUBLE, and the explicit schema does not widen`},
		{name: "explicit new column", table: []string{"a BIGINT"}, batch: []string{"b DOUBLE"}, explicit: true,
			wantErr: `column "b": not in the table's explicit schema (batch has DOUBLE)`},
		{name: "varchar bigint", table: []string{"a VARCHAR"}, batch: []string{"a BIGINT"}, wantErr: `column "a": table has VARCHAR, batch has BIGINT`},
		{name: "double varchar", table: []string{"a DOUBLE"}, batch: []string{"a VARCHAR"}, wantErr: `column "a": table has DOUBLE, batch has VARCHAR`},
		{name: "json varchar", table: []string{"a JSON"}, batch: []string{"a VARCHAR"}, wantErr: `column "a": table has JSON, batch has VARCHAR`},
		{name: "timestamp bigint", table: []string{"ts TIMESTAMP"}, batch: []string{"ts BIGINT"}, wantErr: `column "ts": table has TIMESTAMP, batch has BIGINT`},
		{name: "boolean bigint", table: []string{"a BOOLEAN"}, batch: []string{"a BIGINT"}, wantErr: `column "a": table has BOOLEAN, batch has BIGINT`},
		{name: "double to bigint is no narrowing", table: []string{"a DOUBLE"}, batch: []string{"a DOUBLE", "b BIGINT"}, want: []string{"a DOUBLE", "b BIGINT"}},
		{name: "case conflict", table: []string{"value BIGINT"}, batch: []string{"Value BIGINT"},
			wantErr: `column "Value": conflicts with column "value" (names are case-insensitive)`},
		{name: "twice in batch", batch: []string{"a BIGINT", "A BIGINT"}, wantErr: `column "A": appears twice in the batch (names are case-insensitive)`},
		{name: "bad new name", batch: []string{"a-b BIGINT"}, wantErr: `column "a-b": invalid column name "a-b": want letters, digits and _, not starting with a digit`},
		{name: "reserved new name", batch: []string{"_miniodb_x BIGINT"}, wantErr: `column "_miniodb_x": invalid column name "_miniodb_x": names starting with _miniodb are reserved`},
		{name: "bad type", batch: []string{"a UNSPECIFIED"}, wantErr: `column "a": invalid type COLUMN_TYPE_UNSPECIFIED in batch`},
		{name: "wide", table: wide, batch: []string{"c39 DOUBLE", "new VARCHAR", "c0 BIGINT"}, want: wideOut},
		{name: "wide conflict", table: wide, batch: []string{"C7 BIGINT"}, wantErr: `column "C7": conflicts with column "c7" (names are case-insensitive)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table, batch := cols(tc.table...), cols(tc.batch...)
			origT := proto.Clone(&miniodbv1.TableSpec{Columns: table})
			origB := proto.Clone(&miniodbv1.TableSpec{Columns: batch})
			got, err := MergeColumns(table, batch, tc.explicit)
			if !proto.Equal(origT, &miniodbv1.TableSpec{Columns: table}) || !proto.Equal(origB, &miniodbv1.TableSpec{Columns: batch}) {
				t.Fatal("MergeColumns mutated its input")
			}
			if tc.wantErr != "" {
				var se *SchemaError
				if err == nil || err.Error() != tc.wantErr || !errors.As(err, &se) || !errors.Is(err, ErrInvalid) {
					t.Fatalf("err = %v, want SchemaError %s", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g, w := schemaString(got), schemaString(cols(tc.want...)); g != w {
				t.Fatalf("got %s, want %s", g, w)
			}
			for i := range table {
				if got[i] == table[i] {
					t.Fatal("result shares a Column with the table")
				}
			}
		})
	}

	// SchemaError names both types.
	_, err := MergeColumns(cols("a VARCHAR"), cols("a BIGINT"), false)
	var se *SchemaError
	if !errors.As(err, &se) || se.Column != "a" || se.Table != VARCHAR || se.Batch != BIGINT {
		t.Fatalf("SchemaError = %+v", se)
	}
	if _, err := MergeColumns(nil, []*miniodbv1.Column{nil}, false); err == nil {
		t.Fatal("nil column accepted")
	}
}

// TestMergeColumnsIdempotent: merging a batch into the schema it produced
// changes nothing, so raftfsm may merge every partition batch of an insert.
func TestMergeColumnsIdempotent(t *testing.T) {
	table := cols("ts TIMESTAMP", "a BIGINT", "b VARCHAR")
	batch := cols("a DOUBLE", "c JSON")
	once, err := MergeColumns(table, batch, false)
	if err != nil {
		t.Fatal(err)
	}
	twice, err := MergeColumns(once, batch, false)
	if err != nil {
		t.Fatal(err)
	}
	if schemaString(once) != schemaString(twice) {
		t.Fatalf("%s != %s", schemaString(once), schemaString(twice))
	}
}

func TestNormalizeSchema(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    []string
		wantErr string
	}{
		{in: []string{"a BIGINT"}, want: []string{"ts TIMESTAMP", "a BIGINT"}},
		{in: nil, want: []string{"ts TIMESTAMP"}},
		{in: []string{"id VARCHAR", "ts TIMESTAMP", "v DOUBLE"}, want: []string{"id VARCHAR", "ts TIMESTAMP", "v DOUBLE"}},
		{in: []string{"ts BIGINT"}, wantErr: `column "ts": the time column must be ts TIMESTAMP`},
		{in: []string{"TS TIMESTAMP"}, wantErr: `column "TS": the time column must be ts TIMESTAMP`},
		{in: []string{"id BIGINT"}, wantErr: `column "id": the id column must be id VARCHAR`},
		{in: []string{"a BIGINT", "A DOUBLE"}, wantErr: `column "A": declared twice (names are case-insensitive)`},
		{in: []string{"a UNSPECIFIED"}, wantErr: `column "a": invalid type COLUMN_TYPE_UNSPECIFIED`},
		{in: []string{"9a BIGINT"}, wantErr: `column "9a": invalid column name "9a": want letters, digits and _, not starting with a digit`},
	} {
		got, err := NormalizeSchema(cols(tc.in...))
		if tc.wantErr != "" {
			if err == nil || err.Error() != tc.wantErr || !errors.Is(err, ErrInvalid) {
				t.Errorf("%v: err = %v, want %s", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v: %v", tc.in, err)
			continue
		}
		if g, w := schemaString(got), schemaString(cols(tc.want...)); g != w {
			t.Errorf("%v: got %s, want %s", tc.in, g, w)
		}
	}
}

func TestTypeName(t *testing.T) {
	for typ, want := range map[miniodbv1.ColumnType]string{
		BIGINT: "BIGINT", DOUBLE: "DOUBLE", VARCHAR: "VARCHAR", BOOLEAN: "BOOLEAN", TIMESTAMP: "TIMESTAMP", JSON: "JSON",
		0: "COLUMN_TYPE_UNSPECIFIED",
	} {
		if got := TypeName(typ); got != want {
			t.Errorf("TypeName(%v) = %s, want %s", typ, got, want)
		}
	}
}
