package compaction

import (
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

func TestPlan(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	p := Policy{TargetFileBytes: 256 << 20, MinFiles: 4, MaxFiles: 8, Cooldown: time.Minute}
	// files makes n files of size bytes, created age ago, keys prefix-i.
	files := func(prefix string, n int, size int64, age time.Duration) []*v1.DataFile {
		var out []*v1.DataFile
		for i := range n {
			out = append(out, &v1.DataFile{Key: fmt.Sprintf("%s%02d", prefix, i), Partition: "p", SizeBytes: size,
				CreatedUnixMicros: now.Add(-age).UnixMicro()})
		}
		return out
	}
	cat := func(fs ...[]*v1.DataFile) []*v1.DataFile {
		var out []*v1.DataFile
		for _, f := range fs {
			out = append(out, f...)
		}
		return out
	}
	for _, tc := range []struct {
		name  string
		files []*v1.DataFile
		p     Policy
		o     Options
		want  string // tasks as "key key | key key"
	}{
		{"too few", files("a", 3, 16<<10, time.Hour), p, Options{}, ""},
		{"one tier", files("a", 4, 16<<10, time.Hour), p, Options{}, "a00 a01 a02 a03"},
		{"max files, remainder below min", files("a", 11, 16<<10, time.Hour), p, Options{},
			"a00 a01 a02 a03 a04 a05 a06 a07"},
		{"two merges", files("a", 16, 16<<10, time.Hour), p, Options{},
			"a00 a01 a02 a03 a04 a05 a06 a07 | a08 a09 a10 a11 a12 a13 a14 a15"},
		{"cooldown", cat(files("a", 3, 16<<10, time.Hour), files("b", 3, 16<<10, time.Second)), p, Options{}, ""},
		{"cooldown passed", cat(files("a", 3, 16<<10, time.Hour), files("b", 1, 16<<10, 2*time.Minute)), p, Options{},
			"a00 a01 a02 b00"},
		{"tiers do not mix", cat(files("s", 3, 16<<10, time.Hour), files("m", 3, 8<<20, time.Hour), files("l", 3, 40<<20, time.Hour)),
			p, Options{}, ""},
		{"a tier of larger files", cat(files("s", 2, 16<<10, time.Hour), files("m", 4, 8<<20, time.Hour)), p, Options{},
			"m00 m01 m02 m03"},
		{"at target: left alone", files("t", 6, 256<<20, time.Hour), p, Options{}, ""},
		{"output capped at target", files("b", 6, 100<<20, time.Hour), Policy{TargetFileBytes: 256 << 20, MinFiles: 2, MaxFiles: 8}, Options{},
			"b00 b01 | b02 b03 | b04 b05"},
		{"busy files", files("a", 5, 16<<10, time.Hour), p, Options{Busy: func(k string) bool { return k == "a02" }},
			"a00 a01 a03 a04"},
		{"disabled", files("a", 8, 16<<10, time.Hour), Policy{TargetFileBytes: 256 << 20, MinFiles: 4, MaxFiles: 8, Disabled: true}, Options{}, ""},
		{"full: any tier, any age, two files", cat(files("s", 1, 16<<10, 0), files("m", 1, 8<<20, time.Hour)), p, Options{Full: true},
			"s00 m00"},
		{"files of earlier versions have no time", []*v1.DataFile{{Key: "x0", Partition: "p", SizeBytes: 1}, {Key: "x1", Partition: "p", SizeBytes: 1},
			{Key: "x2", Partition: "p", SizeBytes: 1}, {Key: "x3", Partition: "p", SizeBytes: 1}}, p, Options{}, "x0 x1 x2 x3"},
		{"rewrite: a large file with deletes alone", append(files("t", 2, 256<<20, time.Hour), files("s", 1, 16<<10, time.Hour)...), p,
			Options{Rewrite: func(f *v1.DataFile) bool { return f.Key == "t00" }}, "t00"},
		{"rewrite: small files with deletes merge together", files("s", 3, 16<<10, time.Hour), p,
			Options{Rewrite: func(f *v1.DataFile) bool { return f.Key != "s02" }}, "s00 s01"},
		{"full: files with deletes merge with the others", files("s", 2, 16<<10, time.Hour), p,
			Options{Full: true, Rewrite: func(f *v1.DataFile) bool { return f.Key == "s00" }}, "s00 s01"},
		{"other partitions are not this one's", append(files("a", 3, 1, time.Hour), &v1.DataFile{Key: "q", Partition: "q", SizeBytes: 1}), p, Options{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Now = now
			var got []string
			for _, task := range Plan("t", 1, "p", tc.files, tc.p, tc.o) {
				var keys []string
				for _, f := range task.Inputs {
					keys = append(keys, f.Key)
				}
				got = append(got, strings.Join(keys, " "))
			}
			if g := strings.Join(got, " | "); g != tc.want {
				t.Errorf("got  %q\nwant %q", g, tc.want)
			}
		})
	}
}

// TestPlanConverges simulates a partition receiving flushes of one size
// and merging whatever the planner says, and checks the file count stays
// bounded and each row is rewritten a bounded number of times.
func TestPlanConverges(t *testing.T) {
	p := Policy{TargetFileBytes: 256 << 20, MinFiles: 4, MaxFiles: 32}
	var live []*v1.DataFile
	var flushed, written int64
	maxFiles := 0
	seq := 0
	for range 5000 {
		seq++
		live = append(live, &v1.DataFile{Key: fmt.Sprint(seq), Partition: "p", SizeBytes: 1 << 20})
		flushed += 1 << 20
		for {
			tasks := Plan("t", 1, "p", live, p, Options{})
			if len(tasks) == 0 {
				break
			}
			for _, task := range tasks {
				in := map[string]bool{}
				for _, f := range task.Inputs {
					in[f.Key] = true
				}
				var keep []*v1.DataFile
				for _, f := range live {
					if !in[f.Key] {
						keep = append(keep, f)
					}
				}
				seq++
				live = append(keep, &v1.DataFile{Key: fmt.Sprint(seq), Partition: "p", SizeBytes: task.Bytes()})
				written += task.Bytes()
			}
		}
		small := 0
		for _, f := range live {
			if f.SizeBytes < p.TargetFileBytes {
				small++
			}
		}
		maxFiles = max(maxFiles, small)
	}
	if maxFiles > 15 {
		t.Errorf("up to %d files below the target size; want at most 15 (3 per tier)", maxFiles)
	}
	if amp := float64(written) / float64(flushed); amp > 5 {
		t.Errorf("write amplification %.1f; want at most 5", amp)
	}
	t.Logf("max %d small files, write amplification %.2f", maxFiles, float64(written)/float64(flushed))
}
