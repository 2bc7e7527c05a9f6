package query

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// BenchmarkPartialTransport compares two ways a fragment's rows could
// reach the coordinator: DuckDB writes them as a Parquet file that DuckDB
// reads back (what the engine does), or Go reads them row by row and
// encodes each as a protobuf list of values (what a JSON or columnar
// protobuf stream would start from). One million rows of the shape a
// gathered fragment sends: VARCHAR, TIMESTAMP, DOUBLE, BIGINT.
func BenchmarkPartialTransport(b *testing.B) {
	ctx := context.Background()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	const rows = 1_000_000
	src := fmt.Sprintf(`SELECT 'id-' || i AS id, make_timestamp(1767225600000000 + i * 1000) AS ts, i / 7.0 AS value, i %% 500 AS status FROM range(%d) t(i)`, rows)
	if _, err := db.ExecContext(ctx, "CREATE TABLE src AS "+src); err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	b.Run("parquet", func(b *testing.B) {
		var size int64
		for i := range b.N {
			path := filepath.Join(dir, fmt.Sprintf("p%d.parquet", i))
			if _, err := db.ExecContext(ctx, fmt.Sprintf("COPY src TO '%s' (FORMAT parquet)", path)); err != nil {
				b.Fatal(err)
			}
			var n int64
			if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT count(*), sum(length(id)) + sum(status) FROM read_parquet('%s') WHERE value >= 0", path)).Scan(&n, new(any)); err != nil || n != rows {
				b.Fatalf("%d rows, %v", n, err)
			}
			if err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT sum(total_compressed_size) FROM parquet_metadata('%s')", path)).Scan(&size); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(size)/rows, "bytes/row")
	})
	b.Run("protobuf-rows", func(b *testing.B) {
		var size int
		for range b.N {
			r, err := db.QueryContext(ctx, "SELECT * FROM src")
			if err != nil {
				b.Fatal(err)
			}
			vals := make([]any, 4)
			ptrs := []any{&vals[0], &vals[1], &vals[2], &vals[3]}
			size = 0
			for r.Next() {
				if err := r.Scan(ptrs...); err != nil {
					b.Fatal(err)
				}
				lv := &structpb.ListValue{Values: make([]*structpb.Value, 4)}
				for i, v := range vals {
					switch x := v.(type) {
					case string:
						lv.Values[i] = structpb.NewStringValue(x)
					case time.Time:
						lv.Values[i] = structpb.NewStringValue(x.Format(time.RFC3339Nano))
					case float64:
						lv.Values[i] = structpb.NewNumberValue(x)
					case int64:
						lv.Values[i] = structpb.NewNumberValue(float64(x))
					default:
						b.Fatalf("unexpected %T", v)
					}
				}
				out, err := proto.Marshal(lv)
				if err != nil {
					b.Fatal(err)
				}
				size += len(out)
			}
			r.Close()
		}
		b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(size)/rows, "bytes/row")
	})
}
