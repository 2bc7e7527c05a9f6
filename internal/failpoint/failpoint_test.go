package failpoint

import (
	"errors"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		spec string
		err  bool
	}{
		{"", false},
		{"flush-after-upload=crash", false},
		{"flush-after-upload=error@2, snapshot-mid-write=pause(10ms)", false},
		{"nope=crash", true},
		{"flush-after-upload", true},
		{"flush-after-upload=explode", true},
		{"flush-after-upload=error@0", true},
		{"flush-after-upload=pause(x)", true},
	}
	for _, tt := range tests {
		_, err := Parse(tt.spec)
		if (err != nil) != tt.err {
			t.Errorf("Parse(%q) = %v, want error %v", tt.spec, err, tt.err)
		}
	}
}

func TestInject(t *testing.T) {
	var nilSet *Set
	if err := nilSet.Inject("flush-after-upload"); err != nil {
		t.Fatal(err)
	}
	s, err := Parse("flush-after-upload=error@2,flush-after-commit=pause(20ms)")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Inject("flush-after-upload"); err != nil {
		t.Fatalf("first hit fired: %v", err)
	}
	if err := s.Inject("flush-after-upload"); !errors.Is(err, ErrInjected) {
		t.Fatalf("second hit: %v", err)
	}
	if err := s.Inject("flush-after-upload"); err != nil {
		t.Fatalf("third hit fired: %v", err)
	}
	start := time.Now()
	if err := s.Inject("flush-after-commit"); err != nil || time.Since(start) < 20*time.Millisecond {
		t.Fatalf("pause: %v after %v", err, time.Since(start))
	}
	if err := s.Inject("snapshot-mid-write"); err != nil {
		t.Fatalf("a point not enabled fired: %v", err)
	}
}
