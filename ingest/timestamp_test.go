package ingest

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestParseTimestampMatchesTime: for random instants, offsets and fraction
// lengths, ParseTimestamp agrees with the time package (truncated to
// microseconds).
func TestParseTimestampMatchesTime(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	lo := time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC).Unix()
	hi := time.Date(9999, 12, 30, 0, 0, 0, 0, time.UTC).Unix()
	layouts := []string{time.RFC3339, time.RFC3339Nano, "2006-01-02T15:04:05.000Z07:00", "2006-01-02T15:04:05.000000Z07:00", "2006-01-02T15:04:05.000000000Z07:00"}
	for range 100000 {
		sec := lo + rng.Int64N(hi-lo)
		nsec := rng.Int64N(1e9)
		off := (rng.IntN(2*(24*60-1)+1) - (24*60 - 1)) * 60 // RFC 3339 offsets are within ±23:59
		if rng.IntN(3) == 0 {
			off = 0
		}
		tm := time.Unix(sec, nsec).In(time.FixedZone("", off))
		layout := layouts[rng.IntN(len(layouts))]
		s := tm.Format(layout)
		want, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatalf("time.Parse(%q): %v", s, err)
		}
		got, err := ParseTimestamp(s)
		if err != nil {
			t.Fatalf("ParseTimestamp(%q): %v", s, err)
		}
		if got != want.UnixMicro() {
			t.Fatalf("ParseTimestamp(%q) = %d, want %d", s, got, want.UnixMicro())
		}
	}
}

func TestCivilDays(t *testing.T) {
	for d := int64(-800000); d < 3000000; d += 7 {
		y, m, dd := civilFromDays(d)
		if daysFromCivil(y, m, dd) != d {
			t.Fatalf("round trip of day %d via %d-%d-%d", d, y, m, dd)
		}
		tm := time.Unix(d*86400, 0).UTC()
		if int64(tm.Year()) != y || int64(tm.Month()) != m || int64(tm.Day()) != dd {
			t.Fatalf("day %d: %d-%d-%d, time says %s", d, y, m, dd, tm)
		}
	}
}
