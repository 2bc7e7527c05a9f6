package parquetio

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

var benchSchema = []*miniodbv1.Column{
	col("ts", tTimestamp),
	col("id", tVarchar),
	col("value", tDouble),
	col("region", tVarchar),
	col("host", tVarchar),
	col("status", tBigint),
}

// benchBatches makes rows like the ingest benchmark's: n rows in batches of
// batchRows, ts one per 100 µs with jitter (unsorted within ~1 ms when
// jitter is set), unique ids, 8 regions, 200 hosts, a few status codes.
func benchBatches(n, batchRows int, jitter bool) []*miniodbv1.RowBatch {
	r := rand.New(rand.NewPCG(7, 7))
	regions := []string{"us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-south-1", "ap-northeast-1", "sa-east-1", "af-south-1"}
	hosts := make([]string, 200)
	for i := range hosts {
		hosts[i] = fmt.Sprintf("host-%03d.example.net", i)
	}
	statuses := []int64{200, 200, 200, 200, 201, 204, 301, 404, 500, 503}
	base := int64(1_780_000_000_000_000)
	var out []*miniodbv1.RowBatch
	for lo := 0; lo < n; lo += batchRows {
		m := min(batchRows, n-lo)
		ts := make([]int64, m)
		ids := make([]string, m)
		vals := make([]float64, m)
		reg := make([]string, m)
		host := make([]string, m)
		st := make([]int64, m)
		for i := range m {
			t := base + int64(lo+i)*100
			if jitter {
				t += r.Int64N(1000)
			}
			ts[i] = t
			ids[i] = fmt.Sprintf("evt-%010d", lo+i)
			vals[i] = r.Float64() * 1000
			reg[i] = regions[r.IntN(len(regions))]
			host[i] = hosts[r.IntN(len(hosts))]
			st[i] = statuses[r.IntN(len(statuses))]
		}
		out = append(out, &miniodbv1.RowBatch{
			RowCount: int64(m),
			Columns:  benchSchema,
			Vectors: []*miniodbv1.ColumnVector{
				{Ints: ts}, {Strings: ids}, {Doubles: vals}, {Strings: reg}, {Strings: host}, {Ints: st},
			},
		})
	}
	return out
}

func BenchmarkWriteFile(b *testing.B) {
	const n = 1_000_000
	for _, bc := range []struct {
		name      string
		batchRows int
		jitter    bool
		par       int
		bloom     bool
	}{
		{"sorted/1batch", n, false, 1, false},
		{"sorted/64kbatches", 64 * 1024, false, 1, false},
		{"jitter/64kbatches", 64 * 1024, true, 1, false},
		{"jitter/64kbatches/par2", 64 * 1024, true, 2, false},
		// What flush does since the id bloom filter (query.Engine.bloomPrune).
		{"jitter/64kbatches/par2/bloom", 64 * 1024, true, 2, true},
	} {
		b.Run(bc.name, func(b *testing.B) {
			batches := benchBatches(n, bc.batchRows, bc.jitter)
			var buf bytes.Buffer
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				buf.Reset()
				opts := WriteOptions{Parallelism: bc.par}
				if bc.bloom {
					opts.BloomFilterColumns = []string{"id"}
				}
				if _, err := WriteFile(&buf, benchSchema, batches, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(buf.Len()), "file-bytes")
		})
	}
}

func BenchmarkReadStats(b *testing.B) {
	var buf bytes.Buffer
	if _, err := WriteFile(&buf, benchSchema, benchBatches(1_000_000, 1_000_000, false), WriteOptions{}); err != nil {
		b.Fatal(err)
	}
	data := buf.Bytes()
	for b.Loop() {
		if _, _, err := ReadStats(bytes.NewReader(data), int64(len(data))); err != nil {
			b.Fatal(err)
		}
	}
}
