package ingest

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

func micros(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UnixMicro()
}

func TestPartitionOf(t *testing.T) {
	pUnspec := miniodbv1.Partitioning_PARTITIONING_UNSPECIFIED
	for _, tc := range []struct {
		p    miniodbv1.Partitioning
		ts   string
		want string
	}{
		{pDay, "2026-01-01T00:00:00Z", "2026-01-01"},
		{pDay, "2025-12-31T23:59:59.999999Z", "2025-12-31"},
		{pDay, "2024-02-29T12:00:00Z", "2024-02-29"},
		{pDay, "1969-12-31T23:59:59.999999Z", "1969-12-31"},
		{pDay, "1970-01-01T00:00:00Z", "1970-01-01"},
		{pDay, "0001-01-01T00:00:00Z", "0001-01-01"},
		{pDay, "9999-12-31T23:59:59.999999Z", "9999-12-31"},
		{pUnspec, "2026-01-01T05:00:00Z", "2026-01-01"},
		{99, "2026-01-01T05:00:00Z", "2026-01-01"},
		{pHour, "2026-01-01T13:59:59.999999Z", "2026-01-01T13"},
		{pHour, "2026-01-01T14:00:00Z", "2026-01-01T14"},
		{pHour, "2025-12-31T23:30:00Z", "2025-12-31T23"},
		{pHour, "1969-12-31T23:59:59.999999Z", "1969-12-31T23"},
		{pMonth, "2024-02-29T23:59:59.999999Z", "2024-02"},
		{pMonth, "2024-03-01T00:00:00Z", "2024-03"},
		{pMonth, "2025-12-31T23:59:59.999999Z", "2025-12"},
		{pMonth, "2026-01-01T00:00:00Z", "2026-01"},
		{pMonth, "1969-12-31T23:59:59.999999Z", "1969-12"},
		{pMonth, "1970-01-01T00:00:00Z", "1970-01"},
		{pMonth, "0001-01-15T00:00:00Z", "0001-01"},
		{pNone, "2026-01-01T00:00:00Z", ""},
	} {
		if got := PartitionOf(tc.p, micros(tc.ts)); got != tc.want {
			t.Errorf("PartitionOf(%v, %s) = %q, want %q", tc.p, tc.ts, got, tc.want)
		}
	}
}

func TestPartitionBounds(t *testing.T) {
	for _, tc := range []struct {
		p      miniodbv1.Partitioning
		part   string
		lo, hi string
	}{
		{pDay, "2026-01-01", "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z"},
		{pDay, "2025-12-31", "2025-12-31T00:00:00Z", "2026-01-01T00:00:00Z"},
		{pDay, "2024-02-28", "2024-02-28T00:00:00Z", "2024-02-29T00:00:00Z"},
		{pDay, "1969-12-31", "1969-12-31T00:00:00Z", "1970-01-01T00:00:00Z"},
		{pHour, "2025-12-31T23", "2025-12-31T23:00:00Z", "2026-01-01T00:00:00Z"},
		{pHour, "2026-03-29T01", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"},
		{pMonth, "2024-02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"},
		{pMonth, "2023-02", "2023-02-01T00:00:00Z", "2023-03-01T00:00:00Z"},
		{pMonth, "2025-12", "2025-12-01T00:00:00Z", "2026-01-01T00:00:00Z"},
		{pMonth, "2026-01", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"},
		{pMonth, "2026-04", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z"},
	} {
		lo, hi, ok := PartitionBounds(tc.p, tc.part)
		if !ok || lo != micros(tc.lo) || hi != micros(tc.hi) {
			t.Errorf("PartitionBounds(%v, %s) = %d, %d, %v; want %s, %s", tc.p, tc.part, lo, hi, ok, tc.lo, tc.hi)
			continue
		}
		// The range is exactly the partition's.
		if PartitionOf(tc.p, lo) != tc.part || PartitionOf(tc.p, hi-1) != tc.part || PartitionOf(tc.p, lo-1) == tc.part || PartitionOf(tc.p, hi) == tc.part {
			t.Errorf("%v %s: bounds [%d, %d) are not the partition's", tc.p, tc.part, lo, hi)
		}
	}
	lo, hi, ok := PartitionBounds(pNone, "")
	if !ok || lo != math.MinInt64 || hi != math.MaxInt64 {
		t.Errorf("NONE bounds = %d, %d, %v", lo, hi, ok)
	}
	for _, tc := range []struct {
		p    miniodbv1.Partitioning
		part string
	}{
		{pDay, ""}, {pDay, "2026-1-01"}, {pDay, "2026-01"}, {pDay, "2026-01-01T00"}, {pDay, "2026-02-30"}, {pDay, "x"},
		{pHour, "2026-01-01"}, {pHour, "2026-01-01T24"}, {pHour, "2026-01-01 00"},
		{pMonth, "2026-13"}, {pMonth, "2026-01-01"}, {pMonth, "2026-1"},
		{pNone, "2026-01-01"},
	} {
		if _, _, ok := PartitionBounds(tc.p, tc.part); ok {
			t.Errorf("PartitionBounds(%v, %q) accepted", tc.p, tc.part)
		}
	}
}

// TestPartitionProperty: for random ts, the partition's bounds hold ts, and
// partition names sort as their bounds do.
func TestPartitionProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	lo, hi := micros("0001-01-01T00:00:00Z"), micros("9999-12-31T23:59:59.999999Z")
	for _, p := range []miniodbv1.Partitioning{pNone, pHour, pDay, pMonth} {
		for range 20000 {
			a := lo + rng.Int64N(hi-lo)
			b := a + rng.Int64N(100*microsPerDay) - 50*microsPerDay
			if rng.IntN(4) == 0 { // near 1970
				a = rng.Int64N(10*microsPerDay) - 5*microsPerDay
			}
			pa := PartitionOf(p, a)
			l, h, ok := PartitionBounds(p, pa)
			if !ok || a < l || a >= h {
				t.Fatalf("%v: ts %d in %q with bounds [%d, %d) ok=%v", p, a, pa, l, h, ok)
			}
			if b >= lo && b <= hi {
				pb := PartitionOf(p, b)
				if (a < b && pa > pb) || (a > b && pa < pb) {
					t.Fatalf("%v: %d < %d but %q > %q", p, a, b, pa, pb)
				}
			}
			// The ts format path agrees with the time package.
			tm := time.UnixMicro(a).UTC()
			var want string
			switch p {
			case pHour:
				want = tm.Format(hourLayout)
			case pDay:
				want = tm.Format(dayLayout)
			case pMonth:
				want = tm.Format(monthLayout)
			}
			if pa != want {
				t.Fatalf("%v: PartitionOf(%d) = %q, want %q", p, a, pa, want)
			}
		}
	}
}

// TestParseSplitsPartitions: rows of several partitions in mixed order give
// one batch per partition, ascending, rows in input order, NULLs kept.
func TestParseSplitsPartitions(t *testing.T) {
	in := `[
		{"ts":"2026-01-02T10:00:00Z","a":1,"s":"x"},
		{"ts":"2025-12-31T23:59:59.999999Z","s":null},
		{"ts":"2026-01-02T00:00:00Z"},
		{"ts":"2025-12-31T00:00:00Z","a":2.5,"s":"y"},
		{"ts":"2026-01-02T23:59:59Z","a":3,"s":"z"},
		{"ts":"2026-01-01T00:00:00Z","s":"w"}
	]`
	want := map[miniodbv1.Partitioning]string{
		pDay: `schema: ts TIMESTAMP, a DOUBLE, s VARCHAR
[2025-12-31] ts TIMESTAMP, a DOUBLE, s VARCHAR
2025-12-31T23:59:59.999999Z | NULL | NULL
2025-12-31T00:00:00Z | 2.5 | "y"
[2026-01-01] ts TIMESTAMP, a DOUBLE, s VARCHAR
2026-01-01T00:00:00Z | NULL | "w"
[2026-01-02] ts TIMESTAMP, a DOUBLE, s VARCHAR
2026-01-02T10:00:00Z | 1 | "x"
2026-01-02T00:00:00Z | NULL | NULL
2026-01-02T23:59:59Z | 3 | "z"
`,
		pMonth: `schema: ts TIMESTAMP, a DOUBLE, s VARCHAR
[2025-12] ts TIMESTAMP, a DOUBLE, s VARCHAR
2025-12-31T23:59:59.999999Z | NULL | NULL
2025-12-31T00:00:00Z | 2.5 | "y"
[2026-01] ts TIMESTAMP, a DOUBLE, s VARCHAR
2026-01-02T10:00:00Z | 1 | "x"
2026-01-02T00:00:00Z | NULL | NULL
2026-01-02T23:59:59Z | 3 | "z"
2026-01-01T00:00:00Z | NULL | "w"
`,
		pNone: `schema: ts TIMESTAMP, a DOUBLE, s VARCHAR
[] ts TIMESTAMP, a DOUBLE, s VARCHAR
2026-01-02T10:00:00Z | 1 | "x"
2025-12-31T23:59:59.999999Z | NULL | NULL
2026-01-02T00:00:00Z | NULL | NULL
2025-12-31T00:00:00Z | 2.5 | "y"
2026-01-02T23:59:59Z | 3 | "z"
2026-01-01T00:00:00Z | NULL | "w"
`,
	}
	for p, w := range want {
		res := parseOK(t, Table{Partitioning: p}, JSONArray([]byte(in)))
		if got := render(res); got != w {
			t.Errorf("%v: got\n%s\nwant\n%s", p, got, w)
		}
	}
	res := parseOK(t, Table{Partitioning: pHour}, JSONArray([]byte(in)))
	if len(res.Batches) != 6 {
		t.Errorf("HOUR: %d batches, want 6", len(res.Batches))
	}
}
