package parquetio

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	miniodbv1 "github.com/miniodb/miniodb/proto/miniodb/v1"
)

func TestReadStatsCorrupt(t *testing.T) {
	good, _ := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, randomRows(rand.New(rand.NewPCG(3, 4)), 100)...)}, WriteOptions{})
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"too small", []byte("PAR1PAR1")},
		{"no magic", bytes.Repeat([]byte{1}, 100)},
		{"truncated", good[:len(good)/2]},
		{"huge footer length", append(append([]byte("PAR1"), make([]byte, 20)...), 0xff, 0xff, 0xff, 0x7f, 'P', 'A', 'R', '1')},
		{"garbage footer", append(append([]byte("PAR1"), bytes.Repeat([]byte{0xAB}, 40)...), 40, 0, 0, 0, 'P', 'A', 'R', '1')},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ReadStats(bytes.NewReader(tc.data), int64(len(tc.data)))
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("err = %v, want ErrCorrupt", err)
			}
			if _, err := ReadBatches(bytes.NewReader(tc.data), int64(len(tc.data))); !errors.Is(err, ErrCorrupt) {
				t.Fatalf("ReadBatches err = %v, want ErrCorrupt", err)
			}
		})
	}
}

// TestReadBatchesDamagedPages flips bytes in the data pages: ReadBatches must
// fail or return rows, never panic.
func TestReadBatchesDamagedPages(t *testing.T) {
	good, _ := mustWrite(t, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(t, allTypesSchema, randomRows(rand.New(rand.NewPCG(5, 6)), 300)...)}, WriteOptions{})
	r := rand.New(rand.NewPCG(9, 9))
	for range 200 {
		data := bytes.Clone(good)
		// Damage the middle, leaving header and footer intact.
		i := 4 + r.IntN(len(data)/2)
		data[i] ^= byte(1 + r.IntN(255))
		_, _ = ReadBatches(bytes.NewReader(data), int64(len(data)))
	}
}

// errReaderAt fails every read.
type errReaderAt struct{}

func (errReaderAt) ReadAt([]byte, int64) (int, error) { return 0, io.ErrUnexpectedEOF }

func TestReadStatsIOError(t *testing.T) {
	_, _, err := ReadStats(errReaderAt{}, 1000)
	if err == nil || errors.Is(err, ErrCorrupt) {
		t.Fatalf("err = %v, want an I/O error that is not ErrCorrupt", err)
	}
}

func FuzzReadStats(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 1))
	var buf bytes.Buffer
	if _, err := WriteFile(&buf, allTypesSchema, []*miniodbv1.RowBatch{mkBatch(f, allTypesSchema, randomRows(r, 20)...)}, WriteOptions{}); err != nil {
		f.Fatal(err)
	}
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:len(good)-1])
	f.Add([]byte("PAR1\x00\x00\x00\x00PAR1"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		meta, schema, err := ReadStats(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if len(meta.Stats) != len(schema) || meta.RowCount < 0 {
			t.Fatalf("inconsistent result: %d stats, %d columns, %d rows", len(meta.Stats), len(schema), meta.RowCount)
		}
	})
}
