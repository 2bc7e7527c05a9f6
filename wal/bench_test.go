package wal

import (
	"fmt"
	"io"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	raftwal "github.com/hashicorp/raft-wal"
)

// benchStore opens one log store implementation in dir, fsync on.
type benchStore struct {
	name string
	open func(tb testing.TB, dir string) (raft.LogStore, io.Closer)
}

var benchStores = []benchStore{
	{"wal", func(tb testing.TB, dir string) (raft.LogStore, io.Closer) {
		s, err := Open(dir, DefaultOptions())
		if err != nil {
			tb.Fatal(err)
		}
		return s, s
	}},
	{"raft-boltdb", func(tb testing.TB, dir string) (raft.LogStore, io.Closer) {
		s, err := raftboltdb.New(raftboltdb.Options{Path: filepath.Join(dir, "raft.db")})
		if err != nil {
			tb.Fatal(err)
		}
		return s, s
	}},
	{"raft-wal", func(tb testing.TB, dir string) (raft.LogStore, io.Closer) {
		s, err := raftwal.Open(dir)
		if err != nil {
			tb.Fatal(err)
		}
		return s, s
	}},
}

// BenchmarkStoreLogs measures appends with fsync on for wal.Store,
// raft-boltdb/v2 and hashicorp/raft-wal in one run: 1 KiB and 64 KiB
// entries, batches of 1 and 64 entries per StoreLogs call (one call = one
// op). Reported: appends/s (entries per second) and p50/p99 latency of a
// StoreLogs call in microseconds, and the CPU time (user+system, whole
// process) per call, which the load of a shared machine disturbs less than
// wall time.
//
//	go test -run '^$' -bench StoreLogs ./wal/
func BenchmarkStoreLogs(b *testing.B) {
	for _, size := range []int{1 << 10, 64 << 10} {
		for _, batch := range []int{1, 64} {
			for _, st := range benchStores {
				name := fmt.Sprintf("entry=%dKiB/batch=%d/%s", size>>10, batch, st.name)
				b.Run(name, func(b *testing.B) { benchStoreLogs(b, st, size, batch) })
			}
		}
	}
}

func benchStoreLogs(b *testing.B, st benchStore, size, batch int) {
	s, c := st.open(b, b.TempDir())
	defer c.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	logs := make([]*raft.Log, batch)
	for i := range logs {
		logs[i] = &raft.Log{Term: 1, Type: raft.LogCommand, Data: data}
	}
	lat := make([]time.Duration, 0, b.N)
	next := uint64(1)
	settleDisk()
	b.SetBytes(int64(size * batch))
	b.ReportAllocs()
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	for range b.N {
		now := time.Now()
		for _, l := range logs {
			l.Index = next
			l.AppendedAt = now
			next++
		}
		if err := s.StoreLogs(logs); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, time.Since(now))
	}
	elapsed, cpu := time.Since(start), processCPU()-cpu
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "appends/s")
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds())/1e3, "p99-µs")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(b.N), "cpu-µs/op")
}

// BenchmarkRecovery measures Open (full scan: every record's CRC checked,
// index rebuilt) of a ~1 GiB log, for 1 KiB entries (about a million
// records) and 64 KiB entries. The log is written once per case, outside
// the timing, with NoSync; the page cache is warm, as after a process
// restart. Goal: under 5 s per open.
//
//	go test -run '^$' -bench Recovery -benchtime 3x ./wal/
func BenchmarkRecovery(b *testing.B) {
	const total = 1 << 30
	for _, size := range []int{1 << 10, 64 << 10} {
		b.Run(fmt.Sprintf("entry=%dKiB", size>>10), func(b *testing.B) {
			dir := b.TempDir()
			s, err := Open(dir, Options{NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(i * 7)
			}
			batch := make([]*raft.Log, 256)
			next := uint64(1)
			for written := 0; written < total; written += size * len(batch) {
				for i := range batch {
					batch[i] = &raft.Log{Index: next, Term: 1, Data: data, AppendedAt: time.Now()}
					next++
				}
				if err := s.StoreLogs(batch); err != nil {
					b.Fatal(err)
				}
			}
			if err := s.Close(); err != nil {
				b.Fatal(err)
			}
			b.Run("open", func(b *testing.B) {
				b.SetBytes(total)
				for range b.N {
					s, err := Open(dir, DefaultOptions())
					if err != nil {
						b.Fatal(err)
					}
					if last, _ := s.LastIndex(); last != next-1 {
						b.Fatalf("LastIndex %d, want %d", last, next-1)
					}
					b.StopTimer()
					s.Close()
					b.StartTimer()
				}
				b.ReportMetric(float64(next-1), "entries")
			})
		})
	}
}
